-- fcompile 0.1.0 · data test driver_hourly_stats__row_count · features/driver.yml
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- returns one row with the failing figure when the test fails, none when it passes
-- severity: error
SET spark.sql.session.timeZone = UTC;

SELECT
  `counted`.`row_count` AS `row_count`
FROM (
  SELECT
    COUNT(*) AS `row_count`
  FROM `raw`.`driver_stats` AS `source`
) AS `counted`
WHERE
  `counted`.`row_count` < 1
