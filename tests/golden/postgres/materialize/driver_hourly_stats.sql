-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml:21
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "ranked"."driver_id",
  "ranked"."__fc_event_ts",
  "ranked"."__fc_created_ts",
  "ranked"."conv_rate",
  "ranked"."acc_rate",
  "ranked"."avg_daily_trips",
  "ranked"."avg_rating"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "__fc_created_ts",
    "conv_rate",
    "acc_rate",
    "avg_daily_trips",
    "avg_rating",
    ROW_NUMBER() OVER (
      PARTITION BY "driver_id"
      ORDER BY
        "__fc_event_ts" DESC NULLS LAST,
        "__fc_created_ts" DESC NULLS LAST,
        "conv_rate" DESC NULLS LAST,
        "acc_rate" DESC NULLS LAST,
        "avg_daily_trips" DESC NULLS LAST,
        "avg_rating" DESC NULLS LAST
    ) AS "__fc_rank"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      TO_TIMESTAMP(EXTRACT(EPOCH FROM "src"."event_timestamp")) AS "__fc_event_ts",
      TO_TIMESTAMP(EXTRACT(EPOCH FROM "src"."created")) AS "__fc_created_ts",
      "src"."conversion_rate" AS "conv_rate",
      "src"."acc_rate" AS "acc_rate",
      "src"."avg_daily_trips" AS "avg_daily_trips",
      "src"."avg_rating" AS "avg_rating"
    FROM "raw"."driver_stats" AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
      )
      AND "src"."event_timestamp" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(start)s))
    AND "__fc_event_ts" <= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(end)s))
) AS "ranked"
WHERE
  "ranked"."__fc_rank" = 1
