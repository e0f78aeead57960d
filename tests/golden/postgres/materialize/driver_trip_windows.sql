-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the view's aggregated features are not read here: they are loaded online as tiles, partial aggregates per key and step
SELECT
  "driver_id",
  "__fc_event_ts"
FROM (
  SELECT
    "ranked"."driver_id",
    "ranked"."__fc_event_ts"
  FROM (
    SELECT
      "driver_id",
      "__fc_event_ts",
      RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) AS "__fc_rank"
    FROM (
      SELECT
        "src"."driver_id" AS "driver_id",
        CASE
          WHEN PG_TYPEOF("src"."event_timestamp") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."event_timestamp" AS TIMESTAMPTZ)
          ELSE CAST("src"."event_timestamp" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_event_ts"
      FROM "raw"."trips" AS "src"
      WHERE
        (
          "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
        )
        AND "src"."event_timestamp" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
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
