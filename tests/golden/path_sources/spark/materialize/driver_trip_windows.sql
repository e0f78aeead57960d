-- fcompile 0.1.0 · feature view driver_trip_windows · features/trips.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- the view's aggregated features are not read here: they are loaded online as tiles, partial aggregates per key and step
SET spark.sql.session.timeZone = UTC;

SELECT
  `driver_id`,
  `__fc_event_ts`
FROM (
  SELECT
    `ranked`.`driver_id`,
    `ranked`.`__fc_event_ts`
  FROM (
    SELECT
      `driver_id`,
      `__fc_event_ts`,
      RANK() OVER (PARTITION BY `driver_id` ORDER BY `__fc_event_ts` DESC) AS `__fc_rank`
    FROM (
      SELECT
        `src`.`driver_id` AS `driver_id`,
        `src`.`event_timestamp` AS `__fc_event_ts`
      FROM `parquet`.`data/trips.parquet` AS `src`
      WHERE
        `src`.`driver_id` IS NOT NULL AND `src`.`event_timestamp` IS NOT NULL
    ) AS `in_window`
    WHERE
      `__fc_event_ts` >= :start AND `__fc_event_ts` <= :end
  ) AS `ranked`
  WHERE
    `ranked`.`__fc_rank` = 1
) AS `newest`
GROUP BY
  `driver_id`,
  `__fc_event_ts`
