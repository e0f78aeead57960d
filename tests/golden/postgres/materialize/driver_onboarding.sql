-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "driver_id",
  "__fc_event_ts",
  MAX("onboarded_at") AS "onboarded_at",
  MAX("signup_date") AS "signup_date"
FROM (
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
      RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) AS "__fc_rank"
    FROM (
      SELECT
        "src"."driver_id" AS "driver_id",
        CASE
          WHEN PG_TYPEOF("src"."updated_at") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."updated_at" AS TIMESTAMPTZ)
          ELSE CAST("src"."updated_at" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_event_ts",
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
      "__fc_event_ts" >= CASE
        WHEN PG_TYPEOF(%(start)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(start)s AS TIMESTAMPTZ)
        ELSE CAST(%(start)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
      AND "__fc_event_ts" <= CASE
        WHEN PG_TYPEOF(%(end)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(end)s AS TIMESTAMPTZ)
        ELSE CAST(%(end)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
  ) AS "ranked"
  WHERE
    "ranked"."__fc_rank" = 1
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts"
