-- fcompile 0.1.0 · data test driver_hourly_stats__unique_key_time · features/driver.yml
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- returns the failing rows: none when the test passes
-- severity: error
SET TIME ZONE 'UTC';

SELECT
  "source"."driver_id" AS "driver_id",
  "source"."event_timestamp" AS "event_timestamp",
  "source"."created" AS "created",
  COUNT(*) AS "duplicate_rows"
FROM "raw"."driver_stats" AS "source"
WHERE
  "source"."driver_id" IS NOT NULL AND "source"."event_timestamp" IS NOT NULL
GROUP BY
  "source"."driver_id",
  "source"."event_timestamp",
  "source"."created"
HAVING
  COUNT(*) > 1
