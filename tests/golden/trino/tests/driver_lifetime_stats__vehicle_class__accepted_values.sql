-- fcompile 0.1.0 · data test driver_lifetime_stats__vehicle_class__accepted_values · features/driver.yml
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- returns the failing rows: none when the test passes
-- severity: error
SET TIME ZONE 'UTC';

SELECT
  "source"."driver_id" AS "driver_id",
  "source"."updated_at" AS "updated_at",
  "source"."vehicle_class" AS "vehicle_class"
FROM "raw"."driver_profile" AS "source"
WHERE
  "source"."vehicle_class" IS NOT NULL
  AND NOT "source"."vehicle_class" IN ('economy', 'comfort', 'xl', 'green')
