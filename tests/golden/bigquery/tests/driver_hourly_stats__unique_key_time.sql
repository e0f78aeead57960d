-- fcompile 0.1.0 · data test driver_hourly_stats__unique_key_time · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  `source`.`driver_id` AS `driver_id`,
  `source`.`event_timestamp` AS `event_timestamp`,
  `source`.`created` AS `created`,
  COUNT(*) AS `duplicate_rows`
FROM `raw`.`driver_stats` AS `source`
WHERE
  `source`.`driver_id` IS NOT NULL AND `source`.`event_timestamp` IS NOT NULL
GROUP BY
  `source`.`driver_id`,
  `source`.`event_timestamp`,
  `source`.`created`
HAVING
  COUNT(*) > 1
