-- fcompile 0.1.0 · dataset driver_ranking_training · datasets/training.yml
-- writes table driver_ranking_training (replaced)
-- replaced atomically by CREATE OR REPLACE TABLE: a failed build leaves the old table
-- join driver_hourly_stats: range (ttl 2h <= 6h, the range-join limit)
-- join driver_lifetime_stats: asof (no ttl: unbounded look-back)
-- join customer_daily_profile: asof (ttl 2d > 6h, the range-join limit)
-- join driver_customer_affinity: asof (ttl 1w > 6h, the range-join limit)
CREATE OR REPLACE TABLE "driver_ranking_training" AS
WITH "spine" AS (
  /* spine: the spine's rows; each view's features join back to them by keys and time */
  SELECT
    *,
    ROW_NUMBER() OVER () AS "__fc_row_id",
    MAKE_TIMESTAMPTZ(EPOCH_US("event_timestamp")) AS "__fc_spine_ts"
  FROM (
    SELECT
      "order_id",
      "driver_id",
      "customer_id",
      "event_timestamp",
      "fare_amount",
      "completed"
    FROM "raw"."orders"
  ) AS "spine_source"
), "fv0_driver_hourly_stats_source" AS (
  /* driver_hourly_stats: source rows with a key and an event time; ttl 2h; strategy range */
  SELECT
    "src"."driver_id" AS "driver_id",
    MAKE_TIMESTAMPTZ(EPOCH_US("src"."event_timestamp")) AS "__fc_event_ts",
    MAKE_TIMESTAMPTZ(EPOCH_US("src"."created")) AS "__fc_created_ts",
    "src"."conversion_rate" AS "driver_recent__conv_rate",
    "src"."acc_rate" AS "driver_recent__acc_rate",
    "src"."avg_rating" AS "driver_recent__avg_rating"
  FROM "raw"."driver_stats" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
), "fv0_driver_hourly_stats_points" AS (
  /* driver_hourly_stats: the spine's distinct (driver_id, time) with no NULL; ttl 2h; strategy range */
  SELECT DISTINCT
    "driver_id",
    "__fc_spine_ts"
  FROM "spine"
  WHERE
    "driver_id" IS NOT NULL AND "__fc_spine_ts" IS NOT NULL
), "fv0_driver_hourly_stats" AS (
  /* driver_hourly_stats: newest row per spine point with an event time in [spine time - ttl, spine time]; ttl 2h; strategy range */
  SELECT
    "driver_id",
    "__fc_spine_ts",
    MAX("driver_recent__conv_rate") AS "driver_recent__conv_rate",
    MAX("driver_recent__acc_rate") AS "driver_recent__acc_rate",
    MAX("driver_recent__avg_rating") AS "driver_recent__avg_rating"
  FROM (
    SELECT
      "p"."driver_id" AS "driver_id",
      "p"."__fc_spine_ts" AS "__fc_spine_ts",
      "f"."driver_recent__conv_rate" AS "driver_recent__conv_rate",
      "f"."driver_recent__acc_rate" AS "driver_recent__acc_rate",
      "f"."driver_recent__avg_rating" AS "driver_recent__avg_rating"
    FROM "fv0_driver_hourly_stats_points" AS "p"
    JOIN "fv0_driver_hourly_stats_source" AS "f"
      ON (
        "p"."driver_id" = "f"."driver_id" AND "f"."__fc_event_ts" <= "p"."__fc_spine_ts"
      )
      AND "f"."__fc_event_ts" >= "p"."__fc_spine_ts" - INTERVAL 7200 SECOND
    QUALIFY
      RANK() OVER (
        PARTITION BY "p"."driver_id", "p"."__fc_spine_ts"
        ORDER BY
          "f"."__fc_event_ts" DESC NULLS LAST,
          "f"."__fc_created_ts" DESC NULLS LAST
      ) = 1
  ) AS "newest"
  GROUP BY
    "driver_id",
    "__fc_spine_ts"
), "fv1_driver_lifetime_stats_source" AS (
  /* driver_lifetime_stats: source rows with a key and an event time; ttl none; strategy asof */
  SELECT
    "src"."driver_id" AS "driver_id",
    MAKE_TIMESTAMPTZ(EPOCH_US("src"."updated_at")) AS "__fc_event_ts",
    "src"."lifetime_trip_count" AS "driver_lifetime_stats__lifetime_trip_count",
    "src"."is_premium" AS "driver_lifetime_stats__is_premium",
    "src"."vehicle_class" AS "driver_lifetime_stats__vehicle_class"
  FROM "raw"."driver_profile" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
), "fv1_driver_lifetime_stats" AS (
  /* driver_lifetime_stats: newest row per (driver_id, event time), ASOF-joined to the spine; ttl none; strategy asof */
  SELECT
    "driver_id",
    "__fc_event_ts",
    MAX("driver_lifetime_stats__lifetime_trip_count") AS "driver_lifetime_stats__lifetime_trip_count",
    BOOL_OR(CAST("driver_lifetime_stats__is_premium" AS BOOLEAN)) AS "driver_lifetime_stats__is_premium",
    MAX("driver_lifetime_stats__vehicle_class") AS "driver_lifetime_stats__vehicle_class"
  FROM "fv1_driver_lifetime_stats_source"
  GROUP BY
    "driver_id",
    "__fc_event_ts"
), "fv2_customer_daily_profile_source" AS (
  /* customer_daily_profile: source rows with a key and an event time; ttl 2d; strategy asof */
  SELECT
    "src"."customer_id" AS "customer_id",
    MAKE_TIMESTAMPTZ(EPOCH_US("src"."snapshot_ts")) AS "__fc_event_ts",
    "src"."current_balance" AS "customer_daily_profile__current_balance",
    "src"."credit_score" AS "customer_daily_profile__credit_score"
  FROM "raw"."customer_profile" AS "src"
  WHERE
    "src"."customer_id" IS NOT NULL AND "src"."snapshot_ts" IS NOT NULL
), "fv2_customer_daily_profile" AS (
  /* customer_daily_profile: newest row per (customer_id, event time), ASOF-joined to the spine; ttl 2d; strategy asof */
  SELECT
    "customer_id",
    "__fc_event_ts",
    MAX("customer_daily_profile__current_balance") AS "customer_daily_profile__current_balance",
    MAX("customer_daily_profile__credit_score") AS "customer_daily_profile__credit_score"
  FROM "fv2_customer_daily_profile_source"
  GROUP BY
    "customer_id",
    "__fc_event_ts"
), "fv3_driver_customer_affinity_source" AS (
  /* driver_customer_affinity: source rows with a key and an event time; ttl 1w; strategy asof */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."customer_id" AS "customer_id",
    MAKE_TIMESTAMPTZ(EPOCH_US("src"."last_trip_at")) AS "__fc_event_ts",
    "src"."trip_count" AS "driver_customer_affinity__trips_together",
    "src"."rating_given_avg" AS "driver_customer_affinity__avg_rating_given"
  FROM "raw"."driver_customer_trips" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL
    AND "src"."customer_id" IS NOT NULL
    AND "src"."last_trip_at" IS NOT NULL
), "fv3_driver_customer_affinity" AS (
  /* driver_customer_affinity: newest row per (driver_id, customer_id, event time), ASOF-joined to the spine; ttl 1w; strategy asof */
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
)
SELECT
  "s"."order_id" AS "order_id",
  "s"."driver_id" AS "driver_id",
  "s"."customer_id" AS "customer_id",
  "s"."event_timestamp" AS "event_timestamp",
  "s"."fare_amount" AS "fare_amount",
  "s"."completed" AS "completed",
  "f0"."driver_recent__conv_rate" AS "driver_recent__conv_rate",
  "f0"."driver_recent__acc_rate" AS "driver_recent__acc_rate",
  "f0"."driver_recent__avg_rating" AS "driver_recent__avg_rating",
  "f1"."driver_lifetime_stats__lifetime_trip_count" AS "driver_lifetime_stats__lifetime_trip_count",
  "f1"."driver_lifetime_stats__is_premium" AS "driver_lifetime_stats__is_premium",
  "f1"."driver_lifetime_stats__vehicle_class" AS "driver_lifetime_stats__vehicle_class",
  CASE
    WHEN "f2"."__fc_event_ts" >= "s"."__fc_spine_ts" - INTERVAL 172800 SECOND
    THEN "f2"."customer_daily_profile__current_balance"
  END AS "customer_daily_profile__current_balance",
  CASE
    WHEN "f2"."__fc_event_ts" >= "s"."__fc_spine_ts" - INTERVAL 172800 SECOND
    THEN "f2"."customer_daily_profile__credit_score"
  END AS "customer_daily_profile__credit_score",
  CASE
    WHEN "f3"."__fc_event_ts" >= "s"."__fc_spine_ts" - INTERVAL 604800 SECOND
    THEN "f3"."driver_customer_affinity__trips_together"
  END AS "driver_customer_affinity__trips_together",
  CASE
    WHEN "f3"."__fc_event_ts" >= "s"."__fc_spine_ts" - INTERVAL 604800 SECOND
    THEN "f3"."driver_customer_affinity__avg_rating_given"
  END AS "driver_customer_affinity__avg_rating_given"
FROM "spine" AS "s"
LEFT JOIN "fv0_driver_hourly_stats" AS "f0"
  ON "s"."driver_id" = "f0"."driver_id" AND "s"."__fc_spine_ts" = "f0"."__fc_spine_ts"
ASOF LEFT JOIN "fv1_driver_lifetime_stats" AS "f1"
  ON "s"."driver_id" = "f1"."driver_id"
  AND "s"."__fc_spine_ts" >= "f1"."__fc_event_ts"
ASOF LEFT JOIN "fv2_customer_daily_profile" AS "f2"
  ON "s"."customer_id" = "f2"."customer_id"
  AND "s"."__fc_spine_ts" >= "f2"."__fc_event_ts"
ASOF LEFT JOIN "fv3_driver_customer_affinity" AS "f3"
  ON (
    "s"."driver_id" = "f3"."driver_id" AND "s"."customer_id" = "f3"."customer_id"
  )
  AND "s"."__fc_spine_ts" >= "f3"."__fc_event_ts"
ORDER BY
  "s"."__fc_row_id"
