-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml:21
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS",
  "__FC_CREATED_TS",
  MAX("CONV_RATE") AS "CONV_RATE",
  MAX("ACC_RATE") AS "ACC_RATE",
  MAX("AVG_DAILY_TRIPS") AS "AVG_DAILY_TRIPS",
  MAX("AVG_RATING") AS "AVG_RATING"
FROM (
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
      NOT "SRC"."DRIVER_ID" IS NULL AND NOT "SRC"."EVENT_TIMESTAMP" IS NULL
  ) AS "IN_WINDOW"
  WHERE
    "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
  QUALIFY
    RANK() OVER (
      PARTITION BY "DRIVER_ID"
      ORDER BY "__FC_EVENT_TS" DESC NULLS LAST, "__FC_CREATED_TS" DESC NULLS LAST
    ) = 1
) AS "NEWEST"
GROUP BY
  "DRIVER_ID",
  "__FC_EVENT_TS",
  "__FC_CREATED_TS"
