-- fcompile 0.1.0 · feature service driver_activity_v1 · features/services.yml
-- spine: the relation fcompile_spine(driver_id, event_timestamp), one row per entity and point in time, supplied when the query runs
-- join driver_hourly_stats: range (ttl 2h <= 6h, the range-join limit)
WITH "SPINE" AS (
  /* spine: the spine's rows; each view's features join back to them by keys and time */
  SELECT
    *,
    ROW_NUMBER() OVER (ORDER BY NULL) AS "__FC_ROW_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "EVENT_TIMESTAMP"), 6) AS "__FC_SPINE_TS"
  FROM "FCOMPILE_SPINE" AS "SPINE_SOURCE"
), "FV0_DRIVER_HOURLY_STATS_SOURCE" AS (
  /* DRIVER_HOURLY_STATS: source rows with a key and an event time; ttl 2h; strategy range */
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."EVENT_TIMESTAMP"), 6) AS "__FC_EVENT_TS",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."CREATED"), 6) AS "__FC_CREATED_TS",
    "SRC"."CONVERSION_RATE" AS "CONV_RATE",
    "SRC"."ACC_RATE" AS "ACC_RATE",
    "SRC"."AVG_DAILY_TRIPS" AS "AVG_DAILY_TRIPS"
  FROM "RAW"."DRIVER_STATS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."EVENT_TIMESTAMP" IS NOT NULL
), "FV0_DRIVER_HOURLY_STATS_POINTS" AS (
  /* DRIVER_HOURLY_STATS: the spine's distinct (DRIVER_ID, time) with no NULL; ttl 2h; strategy range */
  SELECT DISTINCT
    "DRIVER_ID",
    "__FC_SPINE_TS"
  FROM "SPINE"
  WHERE
    "DRIVER_ID" IS NOT NULL AND "__FC_SPINE_TS" IS NOT NULL
), "FV0_DRIVER_HOURLY_STATS" AS (
  /* DRIVER_HOURLY_STATS: newest row per spine point with an event time in [spine time - ttl, spine time]; ttl 2h; strategy range */
  SELECT
    "DRIVER_ID",
    "__FC_SPINE_TS",
    MAX("CONV_RATE") AS "CONV_RATE",
    MAX("ACC_RATE") AS "ACC_RATE",
    MAX("AVG_DAILY_TRIPS") AS "AVG_DAILY_TRIPS"
  FROM (
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
      RANK() OVER (
        PARTITION BY "P"."DRIVER_ID", "P"."__FC_SPINE_TS"
        ORDER BY
          "F"."__FC_EVENT_TS" DESC NULLS LAST,
          "F"."__FC_CREATED_TS" DESC NULLS LAST
      ) = 1
  ) AS "NEWEST"
  GROUP BY
    "DRIVER_ID",
    "__FC_SPINE_TS"
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
  AND "S"."__FC_SPINE_TS" = "F0"."__FC_SPINE_TS"
ORDER BY
  "S"."__FC_ROW_ID"
