-- fcompile 0.1.0 · feature view driver_lifetime_stats · features/driver.yml
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "driver_id",
  "__fc_event_ts",
  MAX("lifetime_trip_count") AS "lifetime_trip_count",
  BOOL_OR("is_premium") AS "is_premium",
  MAX("vehicle_class" COLLATE "C") AS "vehicle_class"
FROM (
  SELECT
    "ranked"."driver_id",
    "ranked"."__fc_event_ts",
    "ranked"."lifetime_trip_count",
    "ranked"."is_premium",
    "ranked"."vehicle_class"
  FROM (
    SELECT
      "driver_id",
      "__fc_event_ts",
      "lifetime_trip_count",
      "is_premium",
      "vehicle_class",
      RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) AS "__fc_rank"
    FROM (
      SELECT
        "src"."driver_id" AS "driver_id",
        CASE
          WHEN PG_TYPEOF("src"."updated_at") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."updated_at" AS TIMESTAMPTZ)
          ELSE CAST("src"."updated_at" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_event_ts",
        "src"."lifetime_trip_count" AS "lifetime_trip_count",
        "src"."is_premium" AS "is_premium",
        "src"."vehicle_class" AS "vehicle_class"
      FROM "raw"."driver_profile" AS "src"
      WHERE
        (
          "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
        )
        AND "src"."updated_at" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
    ) AS "in_window"
    WHERE
      "__fc_event_ts" >= CASE
        WHEN PG_TYPEOF(%(start)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(start)s AS TIMESTAMPTZ)
        ELSE CAST(%(start)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
      AND "__fc_event_ts" <= CASE
        WHEN PG_TYPEOF(%(end)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(end)s AS TIMESTAMPTZ)
        ELSE CAST(%(end)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
  ) AS "ranked"
  WHERE
    "ranked"."__fc_rank" = 1
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts"
