-- fcompile 0.1.0 · feature view driver_customer_affinity · features/driver_customer.yml:11
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "DRIVER_ID",
  "CUSTOMER_ID",
  "__FC_EVENT_TS",
  "TRIPS_TOGETHER",
  "AVG_RATING_GIVEN"
FROM (
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."CUSTOMER_ID" AS "CUSTOMER_ID",
    "SRC"."LAST_TRIP_AT" AS "__FC_EVENT_TS",
    "SRC"."TRIP_COUNT" AS "TRIPS_TOGETHER",
    "SRC"."RATING_GIVEN_AVG" AS "AVG_RATING_GIVEN"
  FROM "RAW"."DRIVER_CUSTOMER_TRIPS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL
    AND "SRC"."CUSTOMER_ID" IS NOT NULL
    AND "SRC"."LAST_TRIP_AT" IS NOT NULL
) AS "IN_WINDOW"
WHERE
  "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "DRIVER_ID", "CUSTOMER_ID"
    ORDER BY
      "__FC_EVENT_TS" DESC NULLS LAST,
      "TRIPS_TOGETHER" DESC NULLS LAST,
      "AVG_RATING_GIVEN" DESC NULLS LAST
  ) = 1
