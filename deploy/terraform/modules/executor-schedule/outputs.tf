output "scaling" {
  description = "Scheduled actions of the executors: `<job>-up` (count = executors, lead_minutes before each run) and `<job>-down` (count 0, window_minutes after it) => { schedule (UTC cron), count }. An hourly job's actions are hourly."
  value       = local.scaling
  precondition {
    condition     = length(local.overlapping) == 0
    error_message = "The executors' windows of the batch runs overlap (each run: from ${var.lead_minutes} minutes before it to cluster.window_minutes after it): one run's scale-down would stop the executors under another's. Move the schedules apart or shorten cluster.window_minutes."
  }
}

output "runs" {
  description = "Each job's schedule as parsed: { hourly, minute, hour (null when hourly) }."
  value       = local.runs
}
