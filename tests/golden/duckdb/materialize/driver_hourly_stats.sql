-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "driver_id",
  "__fc_event_ts",
  "__fc_created_ts",
  MAX("conv_rate") AS "conv_rate",
  MAX("acc_rate") AS "acc_rate",
  MAX("avg_daily_trips") AS "avg_daily_trips",
  MAX("avg_rating") AS "avg_rating"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "__fc_created_ts",
    "conv_rate",
    "acc_rate",
    "avg_daily_trips",
    "avg_rating"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      MAKE_TIMESTAMPTZ(EPOCH_US("src"."event_timestamp")) AS "__fc_event_ts",
      MAKE_TIMESTAMPTZ(EPOCH_US("src"."created")) AS "__fc_created_ts",
      "src"."conversion_rate" AS "conv_rate",
      "src"."acc_rate" AS "acc_rate",
      "src"."avg_daily_trips" AS "avg_daily_trips",
      "src"."avg_rating" AS "avg_rating"
    FROM "raw"."driver_stats" AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
      )
      AND "src"."event_timestamp" BETWEEN CAST($start AS TIMESTAMP) - INTERVAL '1' DAY AND CAST($end AS TIMESTAMP) + INTERVAL '1' DAY
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= MAKE_TIMESTAMPTZ(EPOCH_US($start))
    AND "__fc_event_ts" <= MAKE_TIMESTAMPTZ(EPOCH_US($end))
  QUALIFY
    RANK() OVER (
      PARTITION BY "driver_id"
      ORDER BY
        "__fc_event_ts" DESC NULLS LAST,
        "__fc_created_ts" DESC NULLS LAST
    ) = 1
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts",
  "__fc_created_ts"
