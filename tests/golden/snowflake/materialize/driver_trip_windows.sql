-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the view's aggregated features are not read here: they are loaded online as tiles, partial aggregates per key and step
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS"
FROM (
  SELECT
    "DRIVER_ID",
    "__FC_EVENT_TS"
  FROM (
    SELECT
      "SRC"."DRIVER_ID" AS "DRIVER_ID",
      TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."EVENT_TIMESTAMP"), 6) AS "__FC_EVENT_TS"
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
  QUALIFY
    RANK() OVER (PARTITION BY "DRIVER_ID" ORDER BY "__FC_EVENT_TS" DESC NULLS LAST) = 1
) AS "NEWEST"
GROUP BY
  "DRIVER_ID",
  "__FC_EVENT_TS"
