-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml
-- @start and @end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  `driver_id`,
  `__fc_event_ts`,
  MAX(`onboarded_at`) AS `onboarded_at`,
  MAX(`signup_date`) AS `signup_date`
FROM (
  SELECT
    `driver_id`,
    `__fc_event_ts`,
    `onboarded_at`,
    `signup_date`
  FROM (
    SELECT
      `src`.`driver_id` AS `driver_id`,
      `src`.`updated_at` AS `__fc_event_ts`,
      `src`.`onboarded_at` AS `onboarded_at`,
      `src`.`signup_date` AS `signup_date`
    FROM `raw`.`driver_profile` AS `src`
    WHERE
      `src`.`driver_id` IS NOT NULL AND `src`.`updated_at` IS NOT NULL
  ) AS `in_window`
  WHERE
    `__fc_event_ts` >= @start AND `__fc_event_ts` <= @end
  QUALIFY
    RANK() OVER (PARTITION BY `driver_id` ORDER BY `__fc_event_ts` DESC) = 1
) AS `newest`
GROUP BY
  `driver_id`,
  `__fc_event_ts`
