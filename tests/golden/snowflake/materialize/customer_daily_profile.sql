-- fcompile 0.1.0 · feature view customer_daily_profile · features/customer.yml:11
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "CUSTOMER_ID",
  "__FC_EVENT_TS",
  "CURRENT_BALANCE",
  "CREDIT_SCORE",
  "LIFETIME_ORDER_COUNT",
  "CUSTOMER_SEGMENT"
FROM (
  SELECT
    "SRC"."CUSTOMER_ID" AS "CUSTOMER_ID",
    "SRC"."SNAPSHOT_TS" AS "__FC_EVENT_TS",
    "SRC"."CURRENT_BALANCE" AS "CURRENT_BALANCE",
    "SRC"."CREDIT_SCORE" AS "CREDIT_SCORE",
    "SRC"."LIFETIME_ORDER_COUNT" AS "LIFETIME_ORDER_COUNT",
    "SRC"."CUSTOMER_SEGMENT" AS "CUSTOMER_SEGMENT"
  FROM "RAW"."CUSTOMER_PROFILE" AS "SRC"
  WHERE
    "SRC"."CUSTOMER_ID" IS NOT NULL AND "SRC"."SNAPSHOT_TS" IS NOT NULL
) AS "IN_WINDOW"
WHERE
  "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "CUSTOMER_ID"
    ORDER BY
      "__FC_EVENT_TS" DESC NULLS LAST,
      "CURRENT_BALANCE" DESC NULLS LAST,
      "CREDIT_SCORE" DESC NULLS LAST,
      "LIFETIME_ORDER_COUNT" DESC NULLS LAST,
      "CUSTOMER_SEGMENT" DESC NULLS LAST
  ) = 1
