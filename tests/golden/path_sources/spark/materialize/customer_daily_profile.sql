-- fcompile 0.1.0 · feature view customer_daily_profile · features/customer.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
SET spark.sql.session.timeZone = UTC;

SELECT
  `customer_id`,
  `__fc_event_ts`,
  MAX(`current_balance`) AS `current_balance`,
  MAX(`credit_score`) AS `credit_score`,
  MAX(`lifetime_order_count`) AS `lifetime_order_count`,
  MAX(`customer_segment`) AS `customer_segment`
FROM (
  SELECT
    `ranked`.`customer_id`,
    `ranked`.`__fc_event_ts`,
    `ranked`.`current_balance`,
    `ranked`.`credit_score`,
    `ranked`.`lifetime_order_count`,
    `ranked`.`customer_segment`
  FROM (
    SELECT
      `customer_id`,
      `__fc_event_ts`,
      `current_balance`,
      `credit_score`,
      `lifetime_order_count`,
      `customer_segment`,
      RANK() OVER (PARTITION BY `customer_id` ORDER BY `__fc_event_ts` DESC) AS `__fc_rank`
    FROM (
      SELECT
        `src`.`customer_id` AS `customer_id`,
        `src`.`snapshot_ts` AS `__fc_event_ts`,
        `src`.`current_balance` AS `current_balance`,
        `src`.`credit_score` AS `credit_score`,
        `src`.`lifetime_order_count` AS `lifetime_order_count`,
        `src`.`customer_segment` AS `customer_segment`
      FROM `parquet`.`data/customer_profile.parquet` AS `src`
      WHERE
        `src`.`customer_id` IS NOT NULL AND `src`.`snapshot_ts` IS NOT NULL
    ) AS `in_window`
    WHERE
      `__fc_event_ts` >= :start AND `__fc_event_ts` <= :end
  ) AS `ranked`
  WHERE
    `ranked`.`__fc_rank` = 1
) AS `newest`
GROUP BY
  `customer_id`,
  `__fc_event_ts`
