locals {
  daily_re  = "^cron\\(([0-9]+) ([0-9]+) \\* \\* \\? \\*\\)$"
  hourly_re = "^cron\\(([0-9]+) \\* \\* \\* \\? \\*\\)$"
  # job => { hourly, minute (of the hour), hour (daily; null when hourly) }
  runs = { for k, s in var.schedules : k => (can(regex(local.daily_re, s)) ? {
    hourly = false
    minute = tonumber(regex(local.daily_re, s)[0])
    hour   = tonumber(regex(local.daily_re, s)[1])
    } : {
    hourly = true
    minute = tonumber(regex(local.hourly_re, s)[0])
    hour   = null
  }) }
  # every run's start, minute of the day (an hourly job: 24)
  starts = flatten([for k, r in local.runs : r.hourly ? [for h in range(24) : h * 60 + r.minute] : [r.hour * 60 + r.minute]])
  # The executors are up from lead_minutes before a run to window_minutes after it: no two
  # windows (of two jobs, or two runs of an hourly job) may touch, or one's scale-down would
  # stop the executors under the other's run.
  window      = var.lead_minutes + var.window_minutes
  overlapping = [for p in setproduct(range(length(local.starts)), range(length(local.starts))) : p if p[0] != p[1] && !((local.starts[p[1]] - local.starts[p[0]] + 1440) % 1440 > local.window && (local.starts[p[0]] - local.starts[p[1]] + 1440) % 1440 > local.window)]

  # <job>-up / <job>-down => { schedule, count }
  scaling = merge([for k, r in local.runs : r.hourly ? {
    "${k}-up"   = { schedule = "cron(${(r.minute - var.lead_minutes + 60) % 60} * * * ? *)", count = var.executors }
    "${k}-down" = { schedule = "cron(${(r.minute + var.window_minutes) % 60} * * * ? *)", count = 0 }
    } : {
    "${k}-up"   = { schedule = local.at["${k}-up"], count = var.executors }
    "${k}-down" = { schedule = local.at["${k}-down"], count = 0 }
  }]...)
  # daily jobs: the minute of the day of each action, as a cron expression
  at = merge([for k, r in local.runs : {
    "${k}-up"   = "cron(${((r.hour * 60 + r.minute - var.lead_minutes + 1440) % 1440) % 60} ${floor(((r.hour * 60 + r.minute - var.lead_minutes + 1440) % 1440) / 60)} * * ? *)"
    "${k}-down" = "cron(${((r.hour * 60 + r.minute + var.window_minutes) % 1440) % 60} ${floor(((r.hour * 60 + r.minute + var.window_minutes) % 1440) / 60)} * * ? *)"
  } if !r.hourly]...)
}
