-- fcompile 0.1.0 · feature service driver_activity_v1 · features/services.yml:3
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
-- spine: the relation fcompile_spine(driver_id, event_timestamp), one row per entity and point in time, supplied when the query runs
-- join driver_hourly_stats: range (ttl 2h <= 6h)
WITH "SPINE" AS (
  /* spine: the spine's rows; each view's features join back to them by keys and time */
  SELECT
    *,
    ROW_NUMBER() OVER (ORDER BY NULL) AS "__FC_ROW_ID"
  FROM "FCOMPILE_SPINE" AS "SPINE_SOURCE"
), "FV0_DRIVER_HOURLY_STATS_SOURCE" AS (
  /* DRIVER_HOURLY_STATS: source rows with a key and an event time; ttl 2h; strategy range */
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."EVENT_TIMESTAMP" AS "__FC_EVENT_TS",
    "SRC"."CREATED" AS "__FC_CREATED_TS",
    "SRC"."CONVERSION_RATE" AS "CONV_RATE",
    "SRC"."ACC_RATE" AS "ACC_RATE",
    "SRC"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS",
    "SRC"."AVG_RATING" AS "__FC_TIE_AVG_RATING"
  FROM "RAW"."DRIVER_STATS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."EVENT_TIMESTAMP" IS NOT NULL
), "FV0_DRIVER_HOURLY_STATS_POINTS" AS (
  /* DRIVER_HOURLY_STATS: the spine's distinct (DRIVER_ID, time) with no NULL; ttl 2h; strategy range */
  SELECT DISTINCT
    "DRIVER_ID",
    "EVENT_TIMESTAMP" AS "__FC_SPINE_TS"
  FROM "SPINE"
  WHERE
    "DRIVER_ID" IS NOT NULL AND "EVENT_TIMESTAMP" IS NOT NULL
), "FV0_DRIVER_HOURLY_STATS" AS (
  /* DRIVER_HOURLY_STATS: newest row per spine point with an event time in [spine time - ttl, spine time]; ttl 2h; strategy range */
  SELECT
    "P"."DRIVER_ID" AS "DRIVER_ID",
    "P"."__FC_SPINE_TS" AS "__FC_SPINE_TS",
    "F"."CONV_RATE" AS "CONV_RATE",
    "F"."ACC_RATE" AS "ACC_RATE",
    "F"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
  FROM "FV0_DRIVER_HOURLY_STATS_POINTS" AS "P"
  JOIN "FV0_DRIVER_HOURLY_STATS_SOURCE" AS "F"
    ON (
      "P"."DRIVER_ID" = "F"."DRIVER_ID"
      AND "F"."__FC_EVENT_TS" <= "P"."__FC_SPINE_TS"
    )
    AND "F"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -7200, "P"."__FC_SPINE_TS")
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY "P"."DRIVER_ID", "P"."__FC_SPINE_TS"
      ORDER BY
        "F"."__FC_EVENT_TS" DESC NULLS LAST,
        "F"."__FC_CREATED_TS" DESC NULLS LAST,
        "F"."CONV_RATE" DESC NULLS LAST,
        "F"."ACC_RATE" DESC NULLS LAST,
        "F"."AVG_DAILY_TRIPS" DESC NULLS LAST,
        "F"."__FC_TIE_AVG_RATING" DESC NULLS LAST
    ) = 1
)
SELECT
  "S"."DRIVER_ID" AS "DRIVER_ID",
  "S"."EVENT_TIMESTAMP" AS "EVENT_TIMESTAMP",
  "F0"."CONV_RATE" AS "CONV_RATE",
  "F0"."ACC_RATE" AS "ACC_RATE",
  "F0"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
FROM "SPINE" AS "S"
LEFT JOIN "FV0_DRIVER_HOURLY_STATS" AS "F0"
  ON "S"."DRIVER_ID" = "F0"."DRIVER_ID"
  AND "S"."EVENT_TIMESTAMP" = "F0"."__FC_SPINE_TS"
ORDER BY
  "S"."__FC_ROW_ID"
