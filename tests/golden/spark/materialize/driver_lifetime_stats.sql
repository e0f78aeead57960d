-- fcompile 0.1.0 · feature view driver_lifetime_stats · features/driver.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
SET spark.sql.session.timeZone = UTC;

SELECT
  `driver_id`,
  `__fc_event_ts`,
  MAX(`lifetime_trip_count`) AS `lifetime_trip_count`,
  BOOL_OR(`is_premium`) AS `is_premium`,
  MAX(`vehicle_class`) AS `vehicle_class`
FROM (
  SELECT
    `ranked`.`driver_id`,
    `ranked`.`__fc_event_ts`,
    `ranked`.`lifetime_trip_count`,
    `ranked`.`is_premium`,
    `ranked`.`vehicle_class`
  FROM (
    SELECT
      `driver_id`,
      `__fc_event_ts`,
      `lifetime_trip_count`,
      `is_premium`,
      `vehicle_class`,
      RANK() OVER (PARTITION BY `driver_id` ORDER BY `__fc_event_ts` DESC) AS `__fc_rank`
    FROM (
      SELECT
        `src`.`driver_id` AS `driver_id`,
        `src`.`updated_at` AS `__fc_event_ts`,
        `src`.`lifetime_trip_count` AS `lifetime_trip_count`,
        `src`.`is_premium` AS `is_premium`,
        `src`.`vehicle_class` AS `vehicle_class`
      FROM `raw`.`driver_profile` AS `src`
      WHERE
        `src`.`driver_id` IS NOT NULL AND `src`.`updated_at` IS NOT NULL
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
