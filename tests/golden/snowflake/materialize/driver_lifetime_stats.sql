-- fcompile 0.1.0 · feature view driver_lifetime_stats · features/driver.yml:34
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS",
  "LIFETIME_TRIP_COUNT",
  "IS_PREMIUM",
  "VEHICLE_CLASS"
FROM (
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."UPDATED_AT" AS "__FC_EVENT_TS",
    "SRC"."LIFETIME_TRIP_COUNT" AS "LIFETIME_TRIP_COUNT",
    "SRC"."IS_PREMIUM" AS "IS_PREMIUM",
    "SRC"."VEHICLE_CLASS" AS "VEHICLE_CLASS"
  FROM "RAW"."DRIVER_PROFILE" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."UPDATED_AT" IS NOT NULL
) AS "IN_WINDOW"
WHERE
  "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "DRIVER_ID"
    ORDER BY
      "__FC_EVENT_TS" DESC NULLS LAST,
      "LIFETIME_TRIP_COUNT" DESC NULLS LAST,
      "IS_PREMIUM" DESC NULLS LAST,
      "VEHICLE_CLASS" DESC NULLS LAST
  ) = 1
