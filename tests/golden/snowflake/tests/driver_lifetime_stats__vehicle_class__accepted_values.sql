-- fcompile 0.1.0 · data test driver_lifetime_stats__vehicle_class__accepted_values · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  "SOURCE"."DRIVER_ID" AS "DRIVER_ID",
  "SOURCE"."UPDATED_AT" AS "UPDATED_AT",
  "SOURCE"."VEHICLE_CLASS" AS "VEHICLE_CLASS"
FROM "RAW"."DRIVER_PROFILE" AS "SOURCE"
WHERE
  "SOURCE"."VEHICLE_CLASS" IS NOT NULL
  AND NOT "SOURCE"."VEHICLE_CLASS" IN ('economy', 'comfort', 'xl', 'green')
