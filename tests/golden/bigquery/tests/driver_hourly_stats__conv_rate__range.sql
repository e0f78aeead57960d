-- fcompile 0.1.0 · data test driver_hourly_stats__conv_rate__range · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  `source`.`driver_id` AS `driver_id`,
  `source`.`event_timestamp` AS `event_timestamp`,
  `source`.`created` AS `created`,
  `source`.`conversion_rate` AS `conv_rate`
FROM `raw`.`driver_stats` AS `source`
WHERE
  (
    `source`.`conversion_rate` < 0 OR `source`.`conversion_rate` > 1
  )
