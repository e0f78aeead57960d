-- fcompile 0.1.0 · feature service driver_activity_v1 · features/services.yml:3
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
-- spine: the relation fcompile_spine(driver_id, event_timestamp), one row per entity and point in time, supplied when the query runs
WITH "SPINE" AS (
  SELECT
    *,
    ROW_NUMBER() OVER (ORDER BY NULL) AS "__FC_ROW_ID"
  FROM "FCOMPILE_SPINE" AS "SPINE_SOURCE"
), "FV0_DRIVER_HOURLY_STATS_SOURCE" AS (
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."EVENT_TIMESTAMP" AS "__FC_EVENT_TS",
    "SRC"."CREATED" AS "__FC_CREATED_TS",
    "SRC"."CONVERSION_RATE" AS "CONV_RATE",
    "SRC"."ACC_RATE" AS "ACC_RATE",
    "SRC"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
  FROM "RAW"."DRIVER_STATS" AS "SRC"
  WHERE
    NOT "SRC"."DRIVER_ID" IS NULL AND NOT "SRC"."EVENT_TIMESTAMP" IS NULL
), "FV0_DRIVER_HOURLY_STATS" AS (
  SELECT
    "__FC_ROW_ID",
    MAX("CONV_RATE") AS "CONV_RATE",
    MAX("ACC_RATE") AS "ACC_RATE",
    MAX("AVG_DAILY_TRIPS") AS "AVG_DAILY_TRIPS"
  FROM (
    SELECT
      "S"."__FC_ROW_ID" AS "__FC_ROW_ID",
      "F"."CONV_RATE" AS "CONV_RATE",
      "F"."ACC_RATE" AS "ACC_RATE",
      "F"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
    FROM "SPINE" AS "S"
    JOIN "FV0_DRIVER_HOURLY_STATS_SOURCE" AS "F"
      ON (
        "S"."DRIVER_ID" = "F"."DRIVER_ID"
        AND "F"."__FC_EVENT_TS" <= "S"."EVENT_TIMESTAMP"
      )
      AND "F"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -7200, "S"."EVENT_TIMESTAMP")
    QUALIFY
      RANK() OVER (
        PARTITION BY "S"."__FC_ROW_ID"
        ORDER BY "F"."__FC_EVENT_TS" DESC NULLS LAST, "F"."__FC_CREATED_TS" DESC NULLS LAST
      ) = 1
  ) AS "NEWEST"
  GROUP BY
    "__FC_ROW_ID"
)
SELECT
  "S"."DRIVER_ID" AS "DRIVER_ID",
  "S"."EVENT_TIMESTAMP" AS "EVENT_TIMESTAMP",
  "F0"."CONV_RATE" AS "CONV_RATE",
  "F0"."ACC_RATE" AS "ACC_RATE",
  "F0"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
FROM "SPINE" AS "S"
LEFT JOIN "FV0_DRIVER_HOURLY_STATS" AS "F0"
  ON "F0"."__FC_ROW_ID" = "S"."__FC_ROW_ID"
ORDER BY
  "S"."__FC_ROW_ID"
