-- fcompile 0.1.0 · data test driver_lifetime_stats__vehicle_class__accepted_values · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  "source"."driver_id" AS "driver_id",
  "source"."updated_at" AS "updated_at",
  "source"."vehicle_class" AS "vehicle_class"
FROM READ_PARQUET('data/driver_profile.parquet') AS "source"
WHERE
  "source"."vehicle_class" IS NOT NULL
  AND NOT "source"."vehicle_class" IN ('economy', 'comfort', 'xl', 'green')
