-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml:44
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "ranked"."driver_id",
  "ranked"."__fc_event_ts",
  "ranked"."onboarded_at",
  "ranked"."signup_date"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "onboarded_at",
    "signup_date",
    ROW_NUMBER() OVER (
      PARTITION BY "driver_id"
      ORDER BY
        "__fc_event_ts" DESC NULLS LAST,
        "onboarded_at" DESC NULLS LAST,
        "signup_date" DESC NULLS LAST
    ) AS "__fc_rank"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      TO_TIMESTAMP(EXTRACT(EPOCH FROM "src"."updated_at")) AS "__fc_event_ts",
      "src"."onboarded_at" AS "onboarded_at",
      "src"."signup_date" AS "signup_date"
    FROM "raw"."driver_profile" AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
      )
      AND "src"."updated_at" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(start)s))
    AND "__fc_event_ts" <= TO_TIMESTAMP(EXTRACT(EPOCH FROM %(end)s))
) AS "ranked"
WHERE
  "ranked"."__fc_rank" = 1
