-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml:21
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS",
  "__FC_CREATED_TS",
  "CONV_RATE",
  "ACC_RATE",
  "AVG_DAILY_TRIPS",
  "AVG_RATING"
FROM (
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."EVENT_TIMESTAMP" AS "__FC_EVENT_TS",
    "SRC"."CREATED" AS "__FC_CREATED_TS",
    "SRC"."CONVERSION_RATE" AS "CONV_RATE",
    "SRC"."ACC_RATE" AS "ACC_RATE",
    "SRC"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS",
    "SRC"."AVG_RATING" AS "AVG_RATING"
  FROM "RAW"."DRIVER_STATS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."EVENT_TIMESTAMP" IS NOT NULL
) AS "IN_WINDOW"
WHERE
  "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "DRIVER_ID"
    ORDER BY
      "__FC_EVENT_TS" DESC NULLS LAST,
      "__FC_CREATED_TS" DESC NULLS LAST,
      "CONV_RATE" DESC NULLS LAST,
      "ACC_RATE" DESC NULLS LAST,
      "AVG_DAILY_TRIPS" DESC NULLS LAST,
      "AVG_RATING" DESC NULLS LAST
  ) = 1
