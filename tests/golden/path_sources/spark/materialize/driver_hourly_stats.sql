-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
SET spark.sql.session.timeZone = UTC;

SELECT
  `driver_id`,
  `__fc_event_ts`,
  `__fc_created_ts`,
  MAX(`conv_rate`) AS `conv_rate`,
  MAX(`acc_rate`) AS `acc_rate`,
  MAX(`avg_daily_trips`) AS `avg_daily_trips`,
  MAX(`avg_rating`) AS `avg_rating`
FROM (
  SELECT
    `ranked`.`driver_id`,
    `ranked`.`__fc_event_ts`,
    `ranked`.`__fc_created_ts`,
    `ranked`.`conv_rate`,
    `ranked`.`acc_rate`,
    `ranked`.`avg_daily_trips`,
    `ranked`.`avg_rating`
  FROM (
    SELECT
      `driver_id`,
      `__fc_event_ts`,
      `__fc_created_ts`,
      `conv_rate`,
      `acc_rate`,
      `avg_daily_trips`,
      `avg_rating`,
      RANK() OVER (
        PARTITION BY `driver_id`
        ORDER BY
          `__fc_event_ts` DESC,
          `__fc_created_ts` DESC
      ) AS `__fc_rank`
    FROM (
      SELECT
        `src`.`driver_id` AS `driver_id`,
        `src`.`event_timestamp` AS `__fc_event_ts`,
        `src`.`created` AS `__fc_created_ts`,
        `src`.`conversion_rate` AS `conv_rate`,
        `src`.`acc_rate` AS `acc_rate`,
        `src`.`avg_daily_trips` AS `avg_daily_trips`,
        `src`.`avg_rating` AS `avg_rating`
      FROM `parquet`.`data/driver_stats.parquet` AS `src`
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
  `__fc_event_ts`,
  `__fc_created_ts`
