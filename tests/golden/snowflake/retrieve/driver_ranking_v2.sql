-- fcompile 0.1.0 · feature service driver_ranking_v2 · features/services.yml
-- spine: the relation fcompile_spine(driver_id, customer_id, event_timestamp), one row per entity and point in time, supplied when the query runs
-- join driver_hourly_stats: range (ttl 2h <= 6h, the range-join limit)
-- join driver_lifetime_stats: asof (no ttl: unbounded look-back)
-- join customer_daily_profile: asof (ttl 2d > 6h, the range-join limit)
-- join driver_customer_affinity: asof (ttl 1w > 6h, the range-join limit)
-- join driver_trip_windows: windowed aggregations, step 1h (partial aggregates per key and step, combined per spine point)
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
    "SRC"."AVG_RATING" AS "AVG_RATING"
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
    MAX("AVG_RATING") AS "AVG_RATING"
  FROM (
    SELECT
      "P"."DRIVER_ID" AS "DRIVER_ID",
      "P"."__FC_SPINE_TS" AS "__FC_SPINE_TS",
      "F"."CONV_RATE" AS "CONV_RATE",
      "F"."ACC_RATE" AS "ACC_RATE",
      "F"."AVG_RATING" AS "AVG_RATING"
    FROM "FV0_DRIVER_HOURLY_STATS_POINTS" AS "P"
    JOIN "FV0_DRIVER_HOURLY_STATS_SOURCE" AS "F"
      ON (
        "P"."DRIVER_ID" = "F"."DRIVER_ID" AND "F"."__FC_EVENT_TS" <= "P"."__FC_SPINE_TS"
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
), "FV1_DRIVER_LIFETIME_STATS_SOURCE" AS (
  /* DRIVER_LIFETIME_STATS: source rows with a key and an event time; ttl none; strategy asof */
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."UPDATED_AT"), 6) AS "__FC_EVENT_TS",
    "SRC"."LIFETIME_TRIP_COUNT" AS "LIFETIME_TRIP_COUNT",
    "SRC"."IS_PREMIUM" AS "IS_PREMIUM",
    "SRC"."VEHICLE_CLASS" AS "VEHICLE_CLASS"
  FROM "RAW"."DRIVER_PROFILE" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."UPDATED_AT" IS NOT NULL
), "FV1_DRIVER_LIFETIME_STATS" AS (
  /* DRIVER_LIFETIME_STATS: newest row per (DRIVER_ID, event time), ASOF-joined to the spine; ttl none; strategy asof */
  SELECT
    "DRIVER_ID",
    "__FC_EVENT_TS",
    MAX("LIFETIME_TRIP_COUNT") AS "LIFETIME_TRIP_COUNT",
    BOOLOR_AGG("IS_PREMIUM") AS "IS_PREMIUM",
    MAX("VEHICLE_CLASS") AS "VEHICLE_CLASS"
  FROM "FV1_DRIVER_LIFETIME_STATS_SOURCE"
  GROUP BY
    "DRIVER_ID",
    "__FC_EVENT_TS"
), "FV2_CUSTOMER_DAILY_PROFILE_SOURCE" AS (
  /* CUSTOMER_DAILY_PROFILE: source rows with a key and an event time; ttl 2d; strategy asof */
  SELECT
    "SRC"."CUSTOMER_ID" AS "CUSTOMER_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."SNAPSHOT_TS"), 6) AS "__FC_EVENT_TS",
    "SRC"."CURRENT_BALANCE" AS "CURRENT_BALANCE",
    "SRC"."CREDIT_SCORE" AS "CREDIT_SCORE"
  FROM "RAW"."CUSTOMER_PROFILE" AS "SRC"
  WHERE
    "SRC"."CUSTOMER_ID" IS NOT NULL AND "SRC"."SNAPSHOT_TS" IS NOT NULL
), "FV2_CUSTOMER_DAILY_PROFILE" AS (
  /* CUSTOMER_DAILY_PROFILE: newest row per (CUSTOMER_ID, event time), ASOF-joined to the spine; ttl 2d; strategy asof */
  SELECT
    "CUSTOMER_ID",
    "__FC_EVENT_TS",
    MAX("CURRENT_BALANCE") AS "CURRENT_BALANCE",
    MAX("CREDIT_SCORE") AS "CREDIT_SCORE"
  FROM "FV2_CUSTOMER_DAILY_PROFILE_SOURCE"
  GROUP BY
    "CUSTOMER_ID",
    "__FC_EVENT_TS"
), "FV3_DRIVER_CUSTOMER_AFFINITY_SOURCE" AS (
  /* DRIVER_CUSTOMER_AFFINITY: source rows with a key and an event time; ttl 1w; strategy asof */
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."CUSTOMER_ID" AS "CUSTOMER_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."LAST_TRIP_AT"), 6) AS "__FC_EVENT_TS",
    "SRC"."TRIP_COUNT" AS "TRIPS_TOGETHER",
    "SRC"."RATING_GIVEN_AVG" AS "AVG_RATING_GIVEN"
  FROM "RAW"."DRIVER_CUSTOMER_TRIPS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL
    AND "SRC"."CUSTOMER_ID" IS NOT NULL
    AND "SRC"."LAST_TRIP_AT" IS NOT NULL
), "FV3_DRIVER_CUSTOMER_AFFINITY" AS (
  /* DRIVER_CUSTOMER_AFFINITY: newest row per (DRIVER_ID, CUSTOMER_ID, event time), ASOF-joined to the spine; ttl 1w; strategy asof */
  SELECT
    "DRIVER_ID",
    "CUSTOMER_ID",
    "__FC_EVENT_TS",
    MAX("TRIPS_TOGETHER") AS "TRIPS_TOGETHER",
    MAX("AVG_RATING_GIVEN") AS "AVG_RATING_GIVEN"
  FROM "FV3_DRIVER_CUSTOMER_AFFINITY_SOURCE"
  GROUP BY
    "DRIVER_ID",
    "CUSTOMER_ID",
    "__FC_EVENT_TS"
), "FV4_DRIVER_TRIP_WINDOWS_SOURCE" AS (
  /* driver_trip_windows: source rows with a key and an event time */
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."EVENT_TIMESTAMP"), 6) AS "__FC_EVENT_TS",
    "SRC"."FARE" AS "__FC_IN_0"
  FROM "RAW"."TRIPS" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."EVENT_TIMESTAMP" IS NOT NULL
), "FV4_DRIVER_TRIP_WINDOWS_EVENTS" AS (
  /* driver_trip_windows: each row in its step of 1h (microseconds since the epoch) */
  SELECT
    *,
    "__FC_EVENT_US" - (
      "__FC_EVENT_US" % 3600000000 + 3600000000
    ) % 3600000000 AS "__FC_STEP"
  FROM (
    SELECT
      *,
      DATE_PART(EPOCH_MICROSECOND, "__FC_EVENT_TS") AS "__FC_EVENT_US"
    FROM "FV4_DRIVER_TRIP_WINDOWS_SOURCE"
  ) AS "TIMED"
), "FV4_DRIVER_TRIP_WINDOWS_RANKED" AS (
  /* driver_trip_windows: each row ranked within its (driver_id, step), newest first, for last */
  SELECT
    *,
    RANK() OVER (
      PARTITION BY "DRIVER_ID", "__FC_STEP"
      ORDER BY
        CASE WHEN "__FC_IN_0" IS NULL THEN 1 ELSE 0 END,
        "__FC_EVENT_TS" DESC NULLS LAST
    ) AS "__FC_RANK_0"
  FROM "FV4_DRIVER_TRIP_WINDOWS_EVENTS"
), "FV4_DRIVER_TRIP_WINDOWS_TILES" AS (
  /* driver_trip_windows: partial aggregates per (driver_id, step) */
  SELECT
    "DRIVER_ID",
    "__FC_STEP",
    COUNT(*) AS "__FC_ROWS",
    COUNT("__FC_IN_0") AS "__FC_COUNT_0",
    CAST(SUM("__FC_IN_0") AS DOUBLE) AS "__FC_SUM_0",
    MAX(CASE WHEN "__FC_RANK_0" = 1 THEN "__FC_IN_0" END) AS "__FC_LAST_0"
  FROM "FV4_DRIVER_TRIP_WINDOWS_RANKED"
  GROUP BY
    "DRIVER_ID",
    "__FC_STEP"
), "FV4_DRIVER_TRIP_WINDOWS_POINTS" AS (
  /* driver_trip_windows: the spine's distinct (driver_id, window end) with no NULL */
  SELECT DISTINCT
    "DRIVER_ID",
    DATE_PART(EPOCH_MICROSECOND, "__FC_SPINE_TS") - (
      DATE_PART(EPOCH_MICROSECOND, "__FC_SPINE_TS") % 3600000000 + 3600000000
    ) % 3600000000 AS "__FC_WINDOW_END"
  FROM "SPINE"
  WHERE
    "DRIVER_ID" IS NOT NULL AND "__FC_SPINE_TS" IS NOT NULL
), "FV4_DRIVER_TRIP_WINDOWS_MARKS" AS (
  /* driver_trip_windows: per point, the newest step with a value of each last, from the tiles of its longest window */
  SELECT
    "P"."DRIVER_ID" AS "DRIVER_ID",
    "P"."__FC_WINDOW_END" AS "__FC_WINDOW_END",
    MAX(CASE WHEN "T"."__FC_LAST_0" IS NOT NULL THEN "T"."__FC_STEP" END) AS "__FC_LAST_STEP_3"
  FROM (
    SELECT
      *,
      "W"."__FC_WINDOW_END" - (
        "W"."__FC_WINDOW_END" % 604800000000 + 604800000000
      ) % 604800000000 - "O"."__FC_OFFSET" * 604800000000 AS "__FC_BUCKET"
    FROM "FV4_DRIVER_TRIP_WINDOWS_POINTS" AS "W"
    CROSS JOIN (
      SELECT
        0 AS "__FC_OFFSET"
      UNION ALL
      SELECT
        1 AS "__FC_OFFSET"
    ) AS "O"
    WHERE
      "O"."__FC_OFFSET" = 1 OR "W"."__FC_WINDOW_END" % 604800000000 <> 0
  ) AS "P"
  JOIN "FV4_DRIVER_TRIP_WINDOWS_TILES" AS "T"
    ON "P"."DRIVER_ID" = "T"."DRIVER_ID"
    AND "T"."__FC_STEP" - (
      "T"."__FC_STEP" % 604800000000 + 604800000000
    ) % 604800000000 = "P"."__FC_BUCKET"
    AND "T"."__FC_STEP" >= "P"."__FC_WINDOW_END" - 604800000000
    AND "T"."__FC_STEP" < "P"."__FC_WINDOW_END"
  GROUP BY
    "P"."DRIVER_ID",
    "P"."__FC_WINDOW_END"
), "FV4_DRIVER_TRIP_WINDOWS_PAIRS" AS (
  /* driver_trip_windows: each point with the tiles of its longest window, [end - window, end), joined by bucket */
  SELECT
    "P"."DRIVER_ID" AS "DRIVER_ID",
    "P"."__FC_WINDOW_END" AS "__FC_WINDOW_END",
    "P"."__FC_LAST_STEP_3" AS "__FC_LAST_STEP_3",
    "T"."__FC_STEP" AS "__FC_STEP",
    "T"."__FC_ROWS" AS "__FC_ROWS",
    "T"."__FC_COUNT_0" AS "__FC_COUNT_0",
    "T"."__FC_SUM_0" AS "__FC_SUM_0",
    "T"."__FC_LAST_0" AS "__FC_LAST_0"
  FROM (
    SELECT
      *,
      "W"."__FC_WINDOW_END" - (
        "W"."__FC_WINDOW_END" % 604800000000 + 604800000000
      ) % 604800000000 - "O"."__FC_OFFSET" * 604800000000 AS "__FC_BUCKET"
    FROM "FV4_DRIVER_TRIP_WINDOWS_MARKS" AS "W"
    CROSS JOIN (
      SELECT
        0 AS "__FC_OFFSET"
      UNION ALL
      SELECT
        1 AS "__FC_OFFSET"
    ) AS "O"
    WHERE
      "O"."__FC_OFFSET" = 1 OR "W"."__FC_WINDOW_END" % 604800000000 <> 0
  ) AS "P"
  JOIN "FV4_DRIVER_TRIP_WINDOWS_TILES" AS "T"
    ON "P"."DRIVER_ID" = "T"."DRIVER_ID"
    AND "T"."__FC_STEP" - (
      "T"."__FC_STEP" % 604800000000 + 604800000000
    ) % 604800000000 = "P"."__FC_BUCKET"
    AND "T"."__FC_STEP" >= "P"."__FC_WINDOW_END" - 604800000000
    AND "T"."__FC_STEP" < "P"."__FC_WINDOW_END"
), "FV4_DRIVER_TRIP_WINDOWS" AS (
  /* driver_trip_windows: each feature combined from the tiles of its own window */
  SELECT
    "DRIVER_ID",
    "__FC_WINDOW_END",
    CAST(SUM(CASE WHEN "__FC_STEP" >= "__FC_WINDOW_END" - 3600000000 THEN "__FC_ROWS" END) AS BIGINT) AS "TRIPS_1H",
    CAST(SUM(CASE WHEN "__FC_STEP" >= "__FC_WINDOW_END" - 86400000000 THEN "__FC_SUM_0" END) AS DOUBLE) AS "FARE_SUM_1D",
    CAST(SUM("__FC_SUM_0") AS DOUBLE) / NULLIF(SUM("__FC_COUNT_0"), 0) AS "FARE_AVG_7D",
    MAX(CASE WHEN "__FC_STEP" = "__FC_LAST_STEP_3" THEN "__FC_LAST_0" END) AS "LAST_FARE"
  FROM "FV4_DRIVER_TRIP_WINDOWS_PAIRS"
  GROUP BY
    "DRIVER_ID",
    "__FC_WINDOW_END"
)
SELECT
  "S"."DRIVER_ID" AS "DRIVER_ID",
  "S"."CUSTOMER_ID" AS "CUSTOMER_ID",
  "S"."EVENT_TIMESTAMP" AS "EVENT_TIMESTAMP",
  "F0"."CONV_RATE" AS "CONV_RATE",
  "F0"."ACC_RATE" AS "ACC_RATE",
  "F0"."AVG_RATING" AS "AVG_RATING",
  "F1"."LIFETIME_TRIP_COUNT" AS "LIFETIME_TRIP_COUNT",
  "F1"."IS_PREMIUM" AS "IS_PREMIUM",
  "F1"."VEHICLE_CLASS" AS "VEHICLE_CLASS",
  CASE
    WHEN "F2"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -172800, "S"."__FC_SPINE_TS")
    THEN "F2"."CURRENT_BALANCE"
  END AS "CURRENT_BALANCE",
  CASE
    WHEN "F2"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -172800, "S"."__FC_SPINE_TS")
    THEN "F2"."CREDIT_SCORE"
  END AS "CREDIT_SCORE",
  CASE
    WHEN "F3"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -604800, "S"."__FC_SPINE_TS")
    THEN "F3"."TRIPS_TOGETHER"
  END AS "TRIPS_TOGETHER",
  CASE
    WHEN "F3"."__FC_EVENT_TS" >= TIMESTAMPADD(SECOND, -604800, "S"."__FC_SPINE_TS")
    THEN "F3"."AVG_RATING_GIVEN"
  END AS "AVG_RATING_GIVEN",
  COALESCE("F4"."TRIPS_1H", CAST(0 AS BIGINT)) AS "TRIPS_1H",
  "F4"."FARE_SUM_1D" AS "FARE_SUM_1D",
  "F4"."FARE_AVG_7D" AS "FARE_AVG_7D",
  "F4"."LAST_FARE" AS "LAST_FARE"
FROM "SPINE" AS "S"
LEFT JOIN "FV0_DRIVER_HOURLY_STATS" AS "F0"
  ON "S"."DRIVER_ID" = "F0"."DRIVER_ID" AND "S"."__FC_SPINE_TS" = "F0"."__FC_SPINE_TS"
ASOF JOIN "FV1_DRIVER_LIFETIME_STATS" AS "F1" MATCH_CONDITION ("S"."__FC_SPINE_TS" >= "F1"."__FC_EVENT_TS")
  ON "S"."DRIVER_ID" = "F1"."DRIVER_ID"
ASOF JOIN "FV2_CUSTOMER_DAILY_PROFILE" AS "F2" MATCH_CONDITION ("S"."__FC_SPINE_TS" >= "F2"."__FC_EVENT_TS")
  ON "S"."CUSTOMER_ID" = "F2"."CUSTOMER_ID"
ASOF JOIN "FV3_DRIVER_CUSTOMER_AFFINITY" AS "F3" MATCH_CONDITION ("S"."__FC_SPINE_TS" >= "F3"."__FC_EVENT_TS")
  ON "S"."DRIVER_ID" = "F3"."DRIVER_ID" AND "S"."CUSTOMER_ID" = "F3"."CUSTOMER_ID"
LEFT JOIN "FV4_DRIVER_TRIP_WINDOWS" AS "F4"
  ON "S"."DRIVER_ID" = "F4"."DRIVER_ID"
  AND DATE_PART(EPOCH_MICROSECOND, "S"."__FC_SPINE_TS") - (
    DATE_PART(EPOCH_MICROSECOND, "S"."__FC_SPINE_TS") % 3600000000 + 3600000000
  ) % 3600000000 = "F4"."__FC_WINDOW_END"
ORDER BY
  "S"."__FC_ROW_ID"
