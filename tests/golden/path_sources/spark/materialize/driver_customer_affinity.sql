-- fcompile 0.1.0 · feature view driver_customer_affinity · features/driver_customer.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
SET spark.sql.session.timeZone = UTC;

SELECT
  `driver_id`,
  `customer_id`,
  `__fc_event_ts`,
  MAX(`trips_together`) AS `trips_together`,
  MAX(`avg_rating_given`) AS `avg_rating_given`
FROM (
  SELECT
    `ranked`.`driver_id`,
    `ranked`.`customer_id`,
    `ranked`.`__fc_event_ts`,
    `ranked`.`trips_together`,
    `ranked`.`avg_rating_given`
  FROM (
    SELECT
      `driver_id`,
      `customer_id`,
      `__fc_event_ts`,
      `trips_together`,
      `avg_rating_given`,
      RANK() OVER (PARTITION BY `driver_id`, `customer_id` ORDER BY `__fc_event_ts` DESC) AS `__fc_rank`
    FROM (
      SELECT
        `src`.`driver_id` AS `driver_id`,
        `src`.`customer_id` AS `customer_id`,
        `src`.`last_trip_at` AS `__fc_event_ts`,
        `src`.`trip_count` AS `trips_together`,
        `src`.`rating_given_avg` AS `avg_rating_given`
      FROM `parquet`.`data/driver_customer_trips.parquet` AS `src`
      WHERE
        `src`.`driver_id` IS NOT NULL
        AND `src`.`customer_id` IS NOT NULL
        AND `src`.`last_trip_at` IS NOT NULL
    ) AS `in_window`
    WHERE
      `__fc_event_ts` >= :start AND `__fc_event_ts` <= :end
  ) AS `ranked`
  WHERE
    `ranked`.`__fc_rank` = 1
) AS `newest`
GROUP BY
  `driver_id`,
  `customer_id`,
  `__fc_event_ts`
