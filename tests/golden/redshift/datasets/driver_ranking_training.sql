-- fcompile 0.1.0 · dataset driver_ranking_training · datasets/training.yml
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- writes table driver_ranking_training (replaced)
-- built as __fc_building_driver_ranking_training, then swapped in within one transaction: readers see the old table or the new one
-- join driver_hourly_stats: range (ttl 2h <= 6h, the range-join limit)
-- join driver_lifetime_stats: window (asof: no ttl: unbounded look-back; redshift has no ASOF join)
-- join customer_daily_profile: window (asof: ttl 2d > 6h, the range-join limit; redshift has no ASOF join)
-- join driver_customer_affinity: window (asof: ttl 1w > 6h, the range-join limit; redshift has no ASOF join)
-- join driver_trip_windows: windowed aggregations, step 1h (partial aggregates per key and step, combined per spine point)
SET timezone TO 'UTC';

BEGIN;

DROP TABLE IF EXISTS "__fc_building_driver_ranking_training";

CREATE TABLE "__fc_building_driver_ranking_training" AS
WITH "spine" AS (
  /* spine: the spine's rows; each view's features join back to them by keys and time */
  SELECT
    *,
    ROW_NUMBER() OVER () AS "__fc_row_id"
  FROM (
    SELECT
      "order_id",
      "driver_id",
      "customer_id",
      "event_timestamp",
      "fare_amount",
      "completed",
      "order_amount",
      "order_hour"
    FROM "raw"."orders"
  ) AS "spine_source"
), "fv0_driver_hourly_stats_source" AS (
  /* driver_hourly_stats: source rows with a key and an event time; ttl 2h; strategy range */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."event_timestamp" AS "__fc_event_ts",
    "src"."created" AS "__fc_created_ts",
    "src"."conversion_rate" AS "driver_hourly_stats__conv_rate",
    "src"."acc_rate" AS "driver_hourly_stats__acc_rate",
    "src"."avg_rating" AS "driver_hourly_stats__avg_rating",
    "src"."avg_daily_trips" AS "driver_hourly_stats__avg_daily_trips"
  FROM "raw"."driver_stats" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
), "fv0_driver_hourly_stats_points" AS (
  /* driver_hourly_stats: the spine's distinct (driver_id, time) with no NULL; ttl 2h; strategy range */
  SELECT DISTINCT
    "driver_id",
    "event_timestamp" AS "__fc_spine_ts"
  FROM "spine"
  WHERE
    "driver_id" IS NOT NULL AND "event_timestamp" IS NOT NULL
), "fv0_driver_hourly_stats" AS (
  /* driver_hourly_stats: newest row per spine point with an event time in [spine time - ttl, spine time]; ttl 2h; strategy range */
  SELECT
    "driver_id",
    "__fc_spine_ts",
    MAX("driver_hourly_stats__conv_rate") AS "driver_hourly_stats__conv_rate",
    MAX("driver_hourly_stats__acc_rate") AS "driver_hourly_stats__acc_rate",
    MAX("driver_hourly_stats__avg_rating") AS "driver_hourly_stats__avg_rating",
    MAX("driver_hourly_stats__avg_daily_trips") AS "driver_hourly_stats__avg_daily_trips"
  FROM (
    SELECT
      "ranked"."driver_id",
      "ranked"."__fc_spine_ts",
      "ranked"."driver_hourly_stats__conv_rate",
      "ranked"."driver_hourly_stats__acc_rate",
      "ranked"."driver_hourly_stats__avg_rating",
      "ranked"."driver_hourly_stats__avg_daily_trips"
    FROM (
      SELECT
        "p"."driver_id" AS "driver_id",
        "p"."__fc_spine_ts" AS "__fc_spine_ts",
        "f"."driver_hourly_stats__conv_rate" AS "driver_hourly_stats__conv_rate",
        "f"."driver_hourly_stats__acc_rate" AS "driver_hourly_stats__acc_rate",
        "f"."driver_hourly_stats__avg_rating" AS "driver_hourly_stats__avg_rating",
        "f"."driver_hourly_stats__avg_daily_trips" AS "driver_hourly_stats__avg_daily_trips",
        RANK() OVER (
          PARTITION BY "p"."driver_id", "p"."__fc_spine_ts"
          ORDER BY
            "f"."__fc_event_ts" DESC NULLS LAST,
            "f"."__fc_created_ts" DESC NULLS LAST
        ) AS "__fc_rank"
      FROM "fv0_driver_hourly_stats_points" AS "p"
      JOIN "fv0_driver_hourly_stats_source" AS "f"
        ON (
          "p"."driver_id" = "f"."driver_id" AND "f"."__fc_event_ts" <= "p"."__fc_spine_ts"
        )
        AND "f"."__fc_event_ts" >= DATEADD(SECOND, -7200, "p"."__fc_spine_ts")
    ) AS "ranked"
    WHERE
      "ranked"."__fc_rank" = 1
  ) AS "newest"
  GROUP BY
    "driver_id",
    "__fc_spine_ts"
), "fv1_driver_lifetime_stats_source" AS (
  /* driver_lifetime_stats: source rows with a key and an event time; ttl none; strategy window */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."updated_at" AS "__fc_event_ts",
    "src"."lifetime_trip_count" AS "driver_lifetime_stats__lifetime_trip_count",
    "src"."is_premium" AS "driver_lifetime_stats__is_premium",
    "src"."vehicle_class" AS "driver_lifetime_stats__vehicle_class"
  FROM "raw"."driver_profile" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
), "fv1_driver_lifetime_stats_points" AS (
  /* driver_lifetime_stats: the spine's distinct (driver_id, time) with no NULL; ttl none; strategy window */
  SELECT DISTINCT
    "driver_id",
    "event_timestamp" AS "__fc_spine_ts"
  FROM "spine"
  WHERE
    "driver_id" IS NOT NULL AND "event_timestamp" IS NOT NULL
), "fv1_driver_lifetime_stats_latest_per_event" AS (
  /* driver_lifetime_stats: newest row per (driver_id, event time); ttl none; strategy window */
  SELECT
    "driver_id",
    "__fc_event_ts",
    MAX("driver_lifetime_stats__lifetime_trip_count") AS "driver_lifetime_stats__lifetime_trip_count",
    BOOL_OR("driver_lifetime_stats__is_premium") AS "driver_lifetime_stats__is_premium",
    MAX("driver_lifetime_stats__vehicle_class") AS "driver_lifetime_stats__vehicle_class"
  FROM "fv1_driver_lifetime_stats_source"
  GROUP BY
    "driver_id",
    "__fc_event_ts"
), "fv1_driver_lifetime_stats_rows" AS (
  /* driver_lifetime_stats: rows numbered per (driver_id) by event time; ttl none; strategy window */
  SELECT
    "driver_id",
    "__fc_event_ts",
    "driver_lifetime_stats__lifetime_trip_count",
    "driver_lifetime_stats__is_premium",
    "driver_lifetime_stats__vehicle_class",
    ROW_NUMBER() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts") AS "__fc_feature_row"
  FROM "fv1_driver_lifetime_stats_latest_per_event"
), "fv1_driver_lifetime_stats_timeline" AS (
  /* driver_lifetime_stats: spine points and feature rows in one timeline per (driver_id); ttl none; strategy window */
  SELECT
    "driver_id",
    "__fc_spine_ts" AS "__fc_event_ts",
    1 AS "__fc_is_spine",
    CAST(NULL AS BIGINT) AS "__fc_feature_row"
  FROM "fv1_driver_lifetime_stats_points"
  UNION ALL
  SELECT
    "driver_id",
    "__fc_event_ts",
    0 AS "__fc_is_spine",
    "__fc_feature_row"
  FROM "fv1_driver_lifetime_stats_rows"
), "fv1_driver_lifetime_stats_carried" AS (
  /* driver_lifetime_stats: newest feature row at or before each spine point, carried forward; ttl none; strategy window */
  SELECT
    "driver_id",
    "__fc_event_ts" AS "__fc_spine_ts",
    "__fc_is_spine",
    MAX("__fc_feature_row") OVER (
      PARTITION BY "driver_id"
      ORDER BY
        "__fc_event_ts",
        "__fc_is_spine"
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "__fc_feature_row"
  FROM "fv1_driver_lifetime_stats_timeline"
), "fv1_driver_lifetime_stats" AS (
  /* driver_lifetime_stats: the carried row of each spine point; ttl none; strategy window */
  SELECT
    "c"."driver_id" AS "driver_id",
    "c"."__fc_spine_ts" AS "__fc_spine_ts",
    "r"."driver_lifetime_stats__lifetime_trip_count" AS "driver_lifetime_stats__lifetime_trip_count",
    "r"."driver_lifetime_stats__is_premium" AS "driver_lifetime_stats__is_premium",
    "r"."driver_lifetime_stats__vehicle_class" AS "driver_lifetime_stats__vehicle_class"
  FROM "fv1_driver_lifetime_stats_carried" AS "c"
  JOIN "fv1_driver_lifetime_stats_rows" AS "r"
    ON "c"."driver_id" = "r"."driver_id"
    AND "c"."__fc_feature_row" = "r"."__fc_feature_row"
  WHERE
    "c"."__fc_is_spine" = 1
), "fv2_customer_daily_profile_source" AS (
  /* customer_daily_profile: source rows with a key and an event time; ttl 2d; strategy window */
  SELECT
    "src"."customer_id" AS "customer_id",
    "src"."snapshot_ts" AS "__fc_event_ts",
    "src"."current_balance" AS "customer_daily_profile__current_balance",
    "src"."credit_score" AS "customer_daily_profile__credit_score"
  FROM "raw"."customer_profile" AS "src"
  WHERE
    "src"."customer_id" IS NOT NULL AND "src"."snapshot_ts" IS NOT NULL
), "fv2_customer_daily_profile_points" AS (
  /* customer_daily_profile: the spine's distinct (customer_id, time) with no NULL; ttl 2d; strategy window */
  SELECT DISTINCT
    "customer_id",
    "event_timestamp" AS "__fc_spine_ts"
  FROM "spine"
  WHERE
    "customer_id" IS NOT NULL AND "event_timestamp" IS NOT NULL
), "fv2_customer_daily_profile_latest_per_event" AS (
  /* customer_daily_profile: newest row per (customer_id, event time); ttl 2d; strategy window */
  SELECT
    "customer_id",
    "__fc_event_ts",
    MAX("customer_daily_profile__current_balance") AS "customer_daily_profile__current_balance",
    MAX("customer_daily_profile__credit_score") AS "customer_daily_profile__credit_score"
  FROM "fv2_customer_daily_profile_source"
  GROUP BY
    "customer_id",
    "__fc_event_ts"
), "fv2_customer_daily_profile_rows" AS (
  /* customer_daily_profile: rows numbered per (customer_id) by event time; ttl 2d; strategy window */
  SELECT
    "customer_id",
    "__fc_event_ts",
    "customer_daily_profile__current_balance",
    "customer_daily_profile__credit_score",
    ROW_NUMBER() OVER (PARTITION BY "customer_id" ORDER BY "__fc_event_ts") AS "__fc_feature_row"
  FROM "fv2_customer_daily_profile_latest_per_event"
), "fv2_customer_daily_profile_timeline" AS (
  /* customer_daily_profile: spine points and feature rows in one timeline per (customer_id); ttl 2d; strategy window */
  SELECT
    "customer_id",
    "__fc_spine_ts" AS "__fc_event_ts",
    1 AS "__fc_is_spine",
    CAST(NULL AS BIGINT) AS "__fc_feature_row"
  FROM "fv2_customer_daily_profile_points"
  UNION ALL
  SELECT
    "customer_id",
    "__fc_event_ts",
    0 AS "__fc_is_spine",
    "__fc_feature_row"
  FROM "fv2_customer_daily_profile_rows"
), "fv2_customer_daily_profile_carried" AS (
  /* customer_daily_profile: newest feature row at or before each spine point, carried forward; ttl 2d; strategy window */
  SELECT
    "customer_id",
    "__fc_event_ts" AS "__fc_spine_ts",
    "__fc_is_spine",
    MAX("__fc_feature_row") OVER (
      PARTITION BY "customer_id"
      ORDER BY
        "__fc_event_ts",
        "__fc_is_spine"
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "__fc_feature_row"
  FROM "fv2_customer_daily_profile_timeline"
), "fv2_customer_daily_profile" AS (
  /* customer_daily_profile: the carried row of each spine point, if within the ttl; ttl 2d; strategy window */
  SELECT
    "c"."customer_id" AS "customer_id",
    "c"."__fc_spine_ts" AS "__fc_spine_ts",
    "r"."customer_daily_profile__current_balance" AS "customer_daily_profile__current_balance",
    "r"."customer_daily_profile__credit_score" AS "customer_daily_profile__credit_score"
  FROM "fv2_customer_daily_profile_carried" AS "c"
  JOIN "fv2_customer_daily_profile_rows" AS "r"
    ON "c"."customer_id" = "r"."customer_id"
    AND "c"."__fc_feature_row" = "r"."__fc_feature_row"
  WHERE
    "c"."__fc_is_spine" = 1
    AND "r"."__fc_event_ts" >= DATEADD(SECOND, -172800, "c"."__fc_spine_ts")
), "fv3_driver_customer_affinity_source" AS (
  /* driver_customer_affinity: source rows with a key and an event time; ttl 1w; strategy window */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."customer_id" AS "customer_id",
    "src"."last_trip_at" AS "__fc_event_ts",
    "src"."trip_count" AS "driver_customer_affinity__trips_together",
    "src"."rating_given_avg" AS "driver_customer_affinity__avg_rating_given"
  FROM "raw"."driver_customer_trips" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL
    AND "src"."customer_id" IS NOT NULL
    AND "src"."last_trip_at" IS NOT NULL
), "fv3_driver_customer_affinity_points" AS (
  /* driver_customer_affinity: the spine's distinct (driver_id, customer_id, time) with no NULL; ttl 1w; strategy window */
  SELECT DISTINCT
    "driver_id",
    "customer_id",
    "event_timestamp" AS "__fc_spine_ts"
  FROM "spine"
  WHERE
    "driver_id" IS NOT NULL
    AND "customer_id" IS NOT NULL
    AND "event_timestamp" IS NOT NULL
), "fv3_driver_customer_affinity_latest_per_event" AS (
  /* driver_customer_affinity: newest row per (driver_id, customer_id, event time); ttl 1w; strategy window */
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts",
    MAX("driver_customer_affinity__trips_together") AS "driver_customer_affinity__trips_together",
    MAX("driver_customer_affinity__avg_rating_given") AS "driver_customer_affinity__avg_rating_given"
  FROM "fv3_driver_customer_affinity_source"
  GROUP BY
    "driver_id",
    "customer_id",
    "__fc_event_ts"
), "fv3_driver_customer_affinity_rows" AS (
  /* driver_customer_affinity: rows numbered per (driver_id, customer_id) by event time; ttl 1w; strategy window */
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts",
    "driver_customer_affinity__trips_together",
    "driver_customer_affinity__avg_rating_given",
    ROW_NUMBER() OVER (PARTITION BY "driver_id", "customer_id" ORDER BY "__fc_event_ts") AS "__fc_feature_row"
  FROM "fv3_driver_customer_affinity_latest_per_event"
), "fv3_driver_customer_affinity_timeline" AS (
  /* driver_customer_affinity: spine points and feature rows in one timeline per (driver_id, customer_id); ttl 1w; strategy window */
  SELECT
    "driver_id",
    "customer_id",
    "__fc_spine_ts" AS "__fc_event_ts",
    1 AS "__fc_is_spine",
    CAST(NULL AS BIGINT) AS "__fc_feature_row"
  FROM "fv3_driver_customer_affinity_points"
  UNION ALL
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts",
    0 AS "__fc_is_spine",
    "__fc_feature_row"
  FROM "fv3_driver_customer_affinity_rows"
), "fv3_driver_customer_affinity_carried" AS (
  /* driver_customer_affinity: newest feature row at or before each spine point, carried forward; ttl 1w; strategy window */
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts" AS "__fc_spine_ts",
    "__fc_is_spine",
    MAX("__fc_feature_row") OVER (
      PARTITION BY "driver_id", "customer_id"
      ORDER BY
        "__fc_event_ts",
        "__fc_is_spine"
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "__fc_feature_row"
  FROM "fv3_driver_customer_affinity_timeline"
), "fv3_driver_customer_affinity" AS (
  /* driver_customer_affinity: the carried row of each spine point, if within the ttl; ttl 1w; strategy window */
  SELECT
    "c"."driver_id" AS "driver_id",
    "c"."customer_id" AS "customer_id",
    "c"."__fc_spine_ts" AS "__fc_spine_ts",
    "r"."driver_customer_affinity__trips_together" AS "driver_customer_affinity__trips_together",
    "r"."driver_customer_affinity__avg_rating_given" AS "driver_customer_affinity__avg_rating_given"
  FROM "fv3_driver_customer_affinity_carried" AS "c"
  JOIN "fv3_driver_customer_affinity_rows" AS "r"
    ON (
      "c"."driver_id" = "r"."driver_id" AND "c"."customer_id" = "r"."customer_id"
    )
    AND "c"."__fc_feature_row" = "r"."__fc_feature_row"
  WHERE
    "c"."__fc_is_spine" = 1
    AND "r"."__fc_event_ts" >= DATEADD(SECOND, -604800, "c"."__fc_spine_ts")
), "fv4_driver_trip_windows_source" AS (
  /* driver_trip_windows: source rows with a key and an event time */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."event_timestamp" AS "__fc_event_ts",
    "src"."fare" AS "__fc_in_0"
  FROM "raw"."trips" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
), "fv4_driver_trip_windows_events" AS (
  /* driver_trip_windows: each row in its step of 1h (microseconds since the epoch) */
  SELECT
    *,
    "__fc_event_us" - (
      "__fc_event_us" % 3600000000 + 3600000000
    ) % 3600000000 AS "__fc_step"
  FROM (
    SELECT
      *,
      DATEDIFF(MICROSECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP), "__fc_event_ts") AS "__fc_event_us"
    FROM "fv4_driver_trip_windows_source"
  ) AS "timed"
), "fv4_driver_trip_windows_ranked" AS (
  /* driver_trip_windows: each row ranked within its (driver_id, step), newest first, for last */
  SELECT
    *,
    RANK() OVER (
      PARTITION BY "driver_id", "__fc_step"
      ORDER BY
        CASE WHEN "__fc_in_0" IS NULL THEN 1 ELSE 0 END,
        "__fc_event_ts" DESC NULLS LAST
    ) AS "__fc_rank_0"
  FROM "fv4_driver_trip_windows_events"
), "fv4_driver_trip_windows_tiles" AS (
  /* driver_trip_windows: partial aggregates per (driver_id, step) */
  SELECT
    "driver_id",
    "__fc_step",
    COUNT(*) AS "__fc_rows",
    COUNT("__fc_in_0") AS "__fc_count_0",
    CAST(SUM("__fc_in_0") AS DOUBLE PRECISION) AS "__fc_sum_0",
    MAX(CASE WHEN "__fc_rank_0" = 1 THEN "__fc_in_0" END) AS "__fc_last_0"
  FROM "fv4_driver_trip_windows_ranked"
  GROUP BY
    "driver_id",
    "__fc_step"
), "fv4_driver_trip_windows_points" AS (
  /* driver_trip_windows: the spine's distinct (driver_id, window end) with no NULL */
  SELECT DISTINCT
    "driver_id",
    DATEDIFF(MICROSECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP), "event_timestamp") - (
      DATEDIFF(MICROSECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP), "event_timestamp") % 3600000000 + 3600000000
    ) % 3600000000 AS "__fc_window_end"
  FROM "spine"
  WHERE
    "driver_id" IS NOT NULL AND "event_timestamp" IS NOT NULL
), "fv4_driver_trip_windows_marks" AS (
  /* driver_trip_windows: per point, the newest step with a value of each last, from the tiles of its longest window */
  SELECT
    "p"."driver_id" AS "driver_id",
    "p"."__fc_window_end" AS "__fc_window_end",
    MAX(CASE WHEN "t"."__fc_last_0" IS NOT NULL THEN "t"."__fc_step" END) AS "__fc_last_step_3"
  FROM (
    SELECT
      *,
      "w"."__fc_window_end" - (
        "w"."__fc_window_end" % 604800000000 + 604800000000
      ) % 604800000000 - "o"."__fc_offset" * 604800000000 AS "__fc_bucket"
    FROM "fv4_driver_trip_windows_points" AS "w"
    CROSS JOIN (
      SELECT
        0 AS "__fc_offset"
      UNION ALL
      SELECT
        1 AS "__fc_offset"
    ) AS "o"
    WHERE
      "o"."__fc_offset" = 1 OR "w"."__fc_window_end" % 604800000000 <> 0
  ) AS "p"
  JOIN "fv4_driver_trip_windows_tiles" AS "t"
    ON "p"."driver_id" = "t"."driver_id"
    AND "t"."__fc_step" - (
      "t"."__fc_step" % 604800000000 + 604800000000
    ) % 604800000000 = "p"."__fc_bucket"
    AND "t"."__fc_step" >= "p"."__fc_window_end" - 604800000000
    AND "t"."__fc_step" < "p"."__fc_window_end"
  GROUP BY
    "p"."driver_id",
    "p"."__fc_window_end"
), "fv4_driver_trip_windows_pairs" AS (
  /* driver_trip_windows: each point with the tiles of its longest window, [end - window, end), joined by bucket */
  SELECT
    "p"."driver_id" AS "driver_id",
    "p"."__fc_window_end" AS "__fc_window_end",
    "p"."__fc_last_step_3" AS "__fc_last_step_3",
    "t"."__fc_step" AS "__fc_step",
    "t"."__fc_rows" AS "__fc_rows",
    "t"."__fc_count_0" AS "__fc_count_0",
    "t"."__fc_sum_0" AS "__fc_sum_0",
    "t"."__fc_last_0" AS "__fc_last_0"
  FROM (
    SELECT
      *,
      "w"."__fc_window_end" - (
        "w"."__fc_window_end" % 604800000000 + 604800000000
      ) % 604800000000 - "o"."__fc_offset" * 604800000000 AS "__fc_bucket"
    FROM "fv4_driver_trip_windows_marks" AS "w"
    CROSS JOIN (
      SELECT
        0 AS "__fc_offset"
      UNION ALL
      SELECT
        1 AS "__fc_offset"
    ) AS "o"
    WHERE
      "o"."__fc_offset" = 1 OR "w"."__fc_window_end" % 604800000000 <> 0
  ) AS "p"
  JOIN "fv4_driver_trip_windows_tiles" AS "t"
    ON "p"."driver_id" = "t"."driver_id"
    AND "t"."__fc_step" - (
      "t"."__fc_step" % 604800000000 + 604800000000
    ) % 604800000000 = "p"."__fc_bucket"
    AND "t"."__fc_step" >= "p"."__fc_window_end" - 604800000000
    AND "t"."__fc_step" < "p"."__fc_window_end"
), "fv4_driver_trip_windows" AS (
  /* driver_trip_windows: each feature combined from the tiles of its own window */
  SELECT
    "driver_id",
    "__fc_window_end",
    CAST(SUM(CASE WHEN "__fc_step" >= "__fc_window_end" - 3600000000 THEN "__fc_rows" END) AS BIGINT) AS "driver_trip_windows__trips_1h",
    CAST(SUM(CASE WHEN "__fc_step" >= "__fc_window_end" - 86400000000 THEN "__fc_sum_0" END) AS DOUBLE PRECISION) AS "driver_trip_windows__fare_sum_1d",
    CAST(SUM("__fc_sum_0") AS DOUBLE PRECISION) / NULLIF(SUM("__fc_count_0"), 0) AS "driver_trip_windows__fare_avg_7d",
    MAX(CASE WHEN "__fc_step" = "__fc_last_step_3" THEN "__fc_last_0" END) AS "driver_trip_windows__last_fare"
  FROM "fv4_driver_trip_windows_pairs"
  GROUP BY
    "driver_id",
    "__fc_window_end"
)
SELECT
  "s"."order_id" AS "order_id",
  "s"."driver_id" AS "driver_id",
  "s"."customer_id" AS "customer_id",
  "s"."event_timestamp" AS "event_timestamp",
  "s"."fare_amount" AS "fare_amount",
  "s"."completed" AS "completed",
  "s"."order_amount" AS "order_amount",
  "s"."order_hour" AS "order_hour",
  "f0"."driver_hourly_stats__conv_rate" AS "driver_recent__conv_rate",
  "f0"."driver_hourly_stats__acc_rate" AS "driver_recent__acc_rate",
  "f0"."driver_hourly_stats__avg_rating" AS "driver_recent__avg_rating",
  "f1"."driver_lifetime_stats__lifetime_trip_count" AS "driver_lifetime_stats__lifetime_trip_count",
  "f1"."driver_lifetime_stats__is_premium" AS "driver_lifetime_stats__is_premium",
  "f1"."driver_lifetime_stats__vehicle_class" AS "driver_lifetime_stats__vehicle_class",
  "f2"."customer_daily_profile__current_balance" AS "customer_daily_profile__current_balance",
  "f2"."customer_daily_profile__credit_score" AS "customer_daily_profile__credit_score",
  "f3"."driver_customer_affinity__trips_together" AS "driver_customer_affinity__trips_together",
  "f3"."driver_customer_affinity__avg_rating_given" AS "driver_customer_affinity__avg_rating_given",
  COALESCE("f4"."driver_trip_windows__trips_1h", CAST(0 AS BIGINT)) AS "driver_trip_windows__trips_1h",
  "f4"."driver_trip_windows__fare_sum_1d" AS "driver_trip_windows__fare_sum_1d",
  "f4"."driver_trip_windows__fare_avg_7d" AS "driver_trip_windows__fare_avg_7d",
  "f4"."driver_trip_windows__last_fare" AS "driver_trip_windows__last_fare",
  CAST("s"."order_amount" AS DOUBLE PRECISION) / NULLIF(
    CAST("f0"."driver_hourly_stats__avg_daily_trips" AS DOUBLE PRECISION),
    CAST(0.0 AS DOUBLE PRECISION)
  ) AS "order_features__amount_per_trip",
  CAST("s"."order_amount" AS DOUBLE PRECISION) > (
    3.0 * "f4"."driver_trip_windows__fare_avg_7d"
  ) AS "order_features__big_order",
  CASE WHEN "f0"."driver_hourly_stats__conv_rate" >= 0.5 THEN 'high' ELSE 'low' END AS "order_features__conv_band",
  (
    "s"."order_hour" < 6
  )
  OR (
    "s"."order_hour" >= 22
  ) AS "order_features__night"
FROM "spine" AS "s"
LEFT JOIN "fv0_driver_hourly_stats" AS "f0"
  ON "s"."driver_id" = "f0"."driver_id"
  AND "s"."event_timestamp" = "f0"."__fc_spine_ts"
LEFT JOIN "fv1_driver_lifetime_stats" AS "f1"
  ON "s"."driver_id" = "f1"."driver_id"
  AND "s"."event_timestamp" = "f1"."__fc_spine_ts"
LEFT JOIN "fv2_customer_daily_profile" AS "f2"
  ON "s"."customer_id" = "f2"."customer_id"
  AND "s"."event_timestamp" = "f2"."__fc_spine_ts"
LEFT JOIN "fv3_driver_customer_affinity" AS "f3"
  ON "s"."driver_id" = "f3"."driver_id"
  AND "s"."customer_id" = "f3"."customer_id"
  AND "s"."event_timestamp" = "f3"."__fc_spine_ts"
LEFT JOIN "fv4_driver_trip_windows" AS "f4"
  ON "s"."driver_id" = "f4"."driver_id"
  AND DATEDIFF(MICROSECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP), "s"."event_timestamp") - (
    DATEDIFF(MICROSECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP), "s"."event_timestamp") % 3600000000 + 3600000000
  ) % 3600000000 = "f4"."__fc_window_end"
ORDER BY
  "s"."__fc_row_id";

DROP TABLE IF EXISTS "driver_ranking_training";

ALTER TABLE "__fc_building_driver_ranking_training"
RENAME TO "driver_ranking_training";

COMMIT
