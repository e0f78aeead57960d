-- fcompile 0.1.0 · feature view driver_customer_affinity · features/driver_customer.yml:11
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "ranked"."driver_id",
  "ranked"."customer_id",
  "ranked"."__fc_event_ts",
  "ranked"."trips_together",
  "ranked"."avg_rating_given"
FROM (
  SELECT
    "driver_id",
    "customer_id",
    "__fc_event_ts",
    "trips_together",
    "avg_rating_given",
    ROW_NUMBER() OVER (
      PARTITION BY "driver_id", "customer_id"
      ORDER BY
        "__fc_event_ts" DESC NULLS LAST,
        "trips_together" DESC NULLS LAST,
        "avg_rating_given" DESC NULLS LAST
    ) AS "__fc_rank"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      "src"."customer_id" AS "customer_id",
      TO_TIMESTAMP(EXTRACT(EPOCH FROM "src"."last_trip_at")) AS "__fc_event_ts",
      "src"."trip_count" AS "trips_together",
      "src"."rating_given_avg" AS "avg_rating_given"
    FROM "raw"."driver_customer_trips" AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL
        AND "src"."customer_id" IS NOT NULL
        AND "src"."last_trip_at" IS NOT NULL
      )
      AND "src"."last_trip_at" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(start)s))
    AND "__fc_event_ts" <= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(end)s))
) AS "ranked"
WHERE
  "ranked"."__fc_rank" = 1
