-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive, the start on a multiple of the step (so each tile is whole); the tiles of every entity key and step in it
-- the view's aggregated features are loaded online as tiles: the partial aggregates per key and step of the rows in the window, merged at read time
WITH "__fc_window_rows" AS (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "__fc_in_0",
    "__fc_in_1"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      MAKE_TIMESTAMPTZ(EPOCH_US("src"."event_timestamp")) AS "__fc_event_ts",
      "src"."fare" AS "__fc_in_0",
      "src"."distance_km" AS "__fc_in_1"
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
), "__fc_events" AS (
  SELECT
    *,
    "__fc_event_us" - (
      "__fc_event_us" % 3600000000 + 3600000000
    ) % 3600000000 AS "__fc_step"
  FROM (
    SELECT
      *,
      EPOCH_US("__fc_event_ts") AS "__fc_event_us"
    FROM "__fc_window_rows"
  ) AS "timed"
), "__fc_ranked" AS (
  SELECT
    *,
    RANK() OVER (
      PARTITION BY "driver_id", "__fc_step"
      ORDER BY
        CASE WHEN "__fc_in_0" IS NULL THEN 1 ELSE 0 END,
        "__fc_event_ts" DESC NULLS LAST
    ) AS "__fc_rank_0"
  FROM "__fc_events"
), "__fc_tiles" AS (
  SELECT
    "driver_id",
    "__fc_step",
    "__fc_rows",
    "__fc_count_0",
    "__fc_sum_0",
    "__fc_max_0",
    "__fc_last_0",
    "__fc_count_1",
    "__fc_mean_1",
    "__fc_mean_lo_1",
    LIST_SUM(
      LIST_TRANSFORM(
        "__fc_values_1",
        LAMBDA "__fc_value" : (
          (
            "__fc_value" - "__fc_mean_1"
          ) - "__fc_mean_lo_1"
        ) * (
          (
            "__fc_value" - "__fc_mean_1"
          ) - "__fc_mean_lo_1"
        )
      )
    ) AS "__fc_m2_1"
  FROM (
    SELECT
      *,
      LIST_AVG(
        LIST_TRANSFORM(
          "__fc_values_1",
          LAMBDA "__fc_value" : (
            "__fc_value" - "__fc_mean_1"
          )
        )
      ) AS "__fc_mean_lo_1"
    FROM (
      SELECT
        *,
        LIST_AVG("__fc_values_1") AS "__fc_mean_1"
      FROM (
        SELECT
          "driver_id",
          "__fc_step",
          COUNT(*) AS "__fc_rows",
          COUNT("__fc_in_0") AS "__fc_count_0",
          CAST(SUM("__fc_in_0") AS DOUBLE) AS "__fc_sum_0",
          MAX("__fc_in_0") AS "__fc_max_0",
          MAX(CASE WHEN "__fc_rank_0" = 1 THEN "__fc_in_0" END) AS "__fc_last_0",
          COUNT("__fc_in_1") AS "__fc_count_1",
          ARRAY_AGG(CAST("__fc_in_1" AS DOUBLE)) FILTER(WHERE
            NOT "__fc_in_1" IS NULL) AS "__fc_values_1"
        FROM "__fc_ranked"
        GROUP BY
          "driver_id",
          "__fc_step"
      ) AS "lists"
    ) AS "means"
  ) AS "lows"
)
SELECT
  *
FROM "__fc_tiles"
ORDER BY
  "driver_id",
  "__fc_step"
