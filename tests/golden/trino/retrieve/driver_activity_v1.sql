-- fcompile 0.1.0 · feature service driver_activity_v1 · features/services.yml
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- spine: the relation fcompile_spine(driver_id, event_timestamp), one row per entity and point in time, supplied when the query runs
-- join driver_hourly_stats: range (ttl 2h <= 6h, the range-join limit)
SET TIME ZONE 'UTC';

WITH "spine" AS (
  /* spine: the spine's rows; each view's features join back to them by keys and time */
  SELECT
    *,
    ROW_NUMBER() OVER () AS "__fc_row_id"
  FROM "fcompile_spine" AS "spine_source"
), "fv0_driver_hourly_stats_source" AS (
  /* driver_hourly_stats: source rows with a key and an event time; ttl 2h; strategy range */
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."event_timestamp" AS "__fc_event_ts",
    "src"."created" AS "__fc_created_ts",
    "src"."conversion_rate" AS "conv_rate",
    "src"."acc_rate" AS "acc_rate",
    "src"."avg_daily_trips" AS "avg_daily_trips"
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
    MAX("conv_rate") AS "conv_rate",
    MAX("acc_rate") AS "acc_rate",
    MAX("avg_daily_trips") AS "avg_daily_trips"
  FROM (
    SELECT
      "ranked"."driver_id",
      "ranked"."__fc_spine_ts",
      "ranked"."conv_rate",
      "ranked"."acc_rate",
      "ranked"."avg_daily_trips"
    FROM (
      SELECT
        "p"."driver_id" AS "driver_id",
        "p"."__fc_spine_ts" AS "__fc_spine_ts",
        "f"."conv_rate" AS "conv_rate",
        "f"."acc_rate" AS "acc_rate",
        "f"."avg_daily_trips" AS "avg_daily_trips",
        RANK() OVER (
          PARTITION BY "p"."driver_id", "p"."__fc_spine_ts"
          ORDER BY
            "f"."__fc_event_ts" DESC,
            "f"."__fc_created_ts" DESC
        ) AS "__fc_rank"
      FROM "fv0_driver_hourly_stats_points" AS "p"
      JOIN "fv0_driver_hourly_stats_source" AS "f"
        ON (
          "p"."driver_id" = "f"."driver_id"
          AND "f"."__fc_event_ts" <= "p"."__fc_spine_ts"
        )
        AND "f"."__fc_event_ts" >= DATE_ADD('SECOND', -7200, "p"."__fc_spine_ts")
    ) AS "ranked"
    WHERE
      "ranked"."__fc_rank" = 1
  ) AS "newest"
  GROUP BY
    "driver_id",
    "__fc_spine_ts"
)
SELECT
  "s"."driver_id" AS "driver_id",
  "s"."event_timestamp" AS "event_timestamp",
  "f0"."conv_rate" AS "conv_rate",
  "f0"."acc_rate" AS "acc_rate",
  "f0"."avg_daily_trips" AS "avg_daily_trips"
FROM "spine" AS "s"
LEFT JOIN "fv0_driver_hourly_stats" AS "f0"
  ON "s"."driver_id" = "f0"."driver_id"
  AND "s"."event_timestamp" = "f0"."__fc_spine_ts"
ORDER BY
  "s"."__fc_row_id"
