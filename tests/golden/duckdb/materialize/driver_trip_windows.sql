-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the view's aggregated features are not read here: they are loaded online as tiles, partial aggregates per key and step
SELECT
  "driver_id",
  "__fc_event_ts"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      MAKE_TIMESTAMPTZ(EPOCH_US("src"."event_timestamp")) AS "__fc_event_ts"
    FROM "raw"."trips" AS "src"
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
    RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) = 1
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts"
