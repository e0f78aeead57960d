-- fcompile 0.1.0 · feature view driver_customer_affinity · features/driver_customer.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "driver_id",
  "customer_id",
  "__fc_event_ts",
  MAX("trips_together") AS "trips_together",
  MAX("avg_rating_given") AS "avg_rating_given"
FROM (
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts",
    "trips_together",
    "avg_rating_given"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      "src"."customer_id" AS "customer_id",
      CAST("src"."last_trip_at" AS TIMESTAMPTZ) AS "__fc_event_ts",
      "src"."trip_count" AS "trips_together",
      "src"."rating_given_avg" AS "avg_rating_given"
    FROM READ_PARQUET('data/driver_customer_trips.parquet') AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL
        AND "src"."customer_id" IS NOT NULL
        AND "src"."last_trip_at" IS NOT NULL
      )
      AND "src"."last_trip_at" BETWEEN CAST($start AS TIMESTAMP) - INTERVAL '1' DAY AND CAST($end AS TIMESTAMP) + INTERVAL '1' DAY
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= MAKE_TIMESTAMPTZ(EPOCH_US($start))
    AND "__fc_event_ts" <= MAKE_TIMESTAMPTZ(EPOCH_US($end))
  QUALIFY
    RANK() OVER (
      PARTITION BY "driver_id", "customer_id"
      ORDER BY "__fc_event_ts" DESC NULLS LAST
    ) = 1
) AS "newest"
GROUP BY
  "driver_id",
  "customer_id",
  "__fc_event_ts"
