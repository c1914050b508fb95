# When the Ballista executors run (modules/environment cluster.tf): up `lead_minutes` before each
# batch run, to 0 `window_minutes` after it. No resources: the scheduled actions are made by the
# caller from output `scaling`; this module parses and validates the batch schedules (tested alone
# by the environment roots' terraform tests).

variable "schedules" {
  description = "The batch jobs' EventBridge schedules, job name => expression: daily `cron(M H * * ? *)` or hourly `cron(M * * * ? *)` (M 0-59, H 0-23, UTC)."
  type        = map(string)
  validation {
    condition = alltrue([for k, s in var.schedules : (
      can(regex("^cron\\(([0-9]|[1-5][0-9]) ([0-9]|1[0-9]|2[0-3]) \\* \\* \\? \\*\\)$", s)) ||
      can(regex("^cron\\(([0-9]|[1-5][0-9]) \\* \\* \\* \\? \\*\\)$", s))
    )])
    error_message = "With a Ballista cluster every batch schedule must be daily `cron(M H * * ? *)` or hourly `cron(M * * * ? *)` (M 0-59, H 0-23, UTC): the executors are scaled up before each run and to 0 after it, so the run times must be known. Other expressions (rate(), days of the week, lists or ranges of hours) are not supported."
  }
  validation {
    condition = alltrue([for k, s in var.schedules :
    !can(regex("^cron\\([0-9]+ \\* \\* \\* \\? \\*\\)$", s)) || var.window_minutes + var.lead_minutes < 60])
    error_message = "An hourly batch schedule `cron(M * * * ? *)` needs cluster.window_minutes + ${var.lead_minutes} (the executors' lead) < 60, i.e. window_minutes <= ${59 - var.lead_minutes}: the executors must be scaled to 0 after one run before they are scaled up for the next (platform.yaml, the environment's `cluster`)."
  }
}

variable "executors" {
  description = "Executors while a batch runs (platform.yaml cluster.executors)."
  type        = number
}

variable "window_minutes" {
  description = "Minutes after a run's start when the executors are scaled to 0 (platform.yaml cluster.window_minutes)."
  type        = number
}

variable "lead_minutes" {
  description = "Minutes before a run's start when the executors are scaled up (their start and registration with the scheduler)."
  type        = number
  default     = 10
}
