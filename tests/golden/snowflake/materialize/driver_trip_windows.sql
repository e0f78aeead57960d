-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive, the start on a multiple of the step (so each tile is whole); the tiles of every entity key and step in it
-- the view's aggregated features are loaded online as tiles: the partial aggregates per key and step of the rows in the window, merged at read time
WITH "__FC_WINDOW_ROWS" AS (
  SELECT
    "DRIVER_ID",
    "__FC_EVENT_TS",
    "__FC_IN_0",
    "__FC_IN_1"
  FROM (
    SELECT
      "SRC"."DRIVER_ID" AS "DRIVER_ID",
      TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."EVENT_TIMESTAMP"), 6) AS "__FC_EVENT_TS",
      "SRC"."FARE" AS "__FC_IN_0",
      "SRC"."DISTANCE_KM" AS "__FC_IN_1"
    FROM "RAW"."TRIPS" AS "SRC"
    WHERE
      (
        "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."EVENT_TIMESTAMP" IS NOT NULL
      )
      AND "SRC"."EVENT_TIMESTAMP" BETWEEN CAST(:start AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(:end AS TIMESTAMP) + INTERVAL '1 DAY'
  ) AS "IN_WINDOW"
  WHERE
    "__FC_EVENT_TS" >= TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, :start), 6)
    AND "__FC_EVENT_TS" <= TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, :end), 6)
), "__FC_EVENTS" AS (
  SELECT
    *,
    "__FC_EVENT_US" - (
      "__FC_EVENT_US" % 3600000000 + 3600000000
    ) % 3600000000 AS "__FC_STEP"
  FROM (
    SELECT
      *,
      DATE_PART(EPOCH_MICROSECOND, "__FC_EVENT_TS") AS "__FC_EVENT_US"
    FROM "__FC_WINDOW_ROWS"
  ) AS "TIMED"
), "__FC_RANKED" AS (
  SELECT
    *,
    RANK() OVER (
      PARTITION BY "DRIVER_ID", "__FC_STEP"
      ORDER BY
        CASE WHEN "__FC_IN_0" IS NULL THEN 1 ELSE 0 END,
        "__FC_EVENT_TS" DESC NULLS LAST
    ) AS "__FC_RANK_0",
    AVG(CAST("__FC_IN_1" AS DOUBLE)) OVER (PARTITION BY "DRIVER_ID", "__FC_STEP") AS "__FC_SHIFT_1"
  FROM "__FC_EVENTS"
), "__FC_TILES" AS (
  SELECT
    "DRIVER_ID",
    "__FC_STEP",
    COUNT(*) AS "__FC_ROWS",
    COUNT("__FC_IN_0") AS "__FC_COUNT_0",
    CAST(SUM("__FC_IN_0") AS DOUBLE) AS "__FC_SUM_0",
    MAX("__FC_IN_0") AS "__FC_MAX_0",
    MAX(CASE WHEN "__FC_RANK_0" = 1 THEN "__FC_IN_0" END) AS "__FC_LAST_0",
    COUNT("__FC_IN_1") AS "__FC_COUNT_1",
    MAX("__FC_SHIFT_1") AS "__FC_MEAN_1",
    AVG(CAST("__FC_IN_1" AS DOUBLE) - "__FC_SHIFT_1") AS "__FC_MEAN_LO_1",
    VARIANCE_POP(CAST("__FC_IN_1" AS DOUBLE) - "__FC_SHIFT_1") * COUNT("__FC_IN_1") AS "__FC_M2_1"
  FROM "__FC_RANKED"
  GROUP BY
    "DRIVER_ID",
    "__FC_STEP"
)
SELECT
  *
FROM "__FC_TILES"
ORDER BY
  "DRIVER_ID",
  "__FC_STEP"
