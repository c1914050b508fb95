# Every role below is scoped to this environment's buckets, key, Glue databases
# and Kafka topics only. No wildcard admin policies, no managed admin policies.

locals {
  ecs_assume = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account }
        ArnLike      = { "aws:SourceArn" = "arn:aws:ecs:${local.region}:${local.account}:*" }
      }
    }]
  })

  glue_catalog_arn = "arn:aws:glue:${local.region}:${local.account}:catalog"
  glue_db_arns     = [for d in values(local.glue_db_names) : "arn:aws:glue:${local.region}:${local.account}:database/${d}"]
  glue_table_arns  = [for d in values(local.glue_db_names) : "arn:aws:glue:${local.region}:${local.account}:table/${d}/*"]

  data_access_statements = [
    {
      Sid      = "ListOwnBuckets"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = values(local.bucket_arns)
    },
    {
      Sid      = "ReadWriteOwnObjects"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = [for a in values(local.bucket_arns) : "${a}/*"]
    },
    {
      Sid      = "UseOwnEnvironmentKey"
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
      Resource = [aws_kms_key.this.arn]
    },
    {
      Sid    = "OwnGlueDatabases"
      Effect = "Allow"
      Action = [
        "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
        "glue:GetPartition", "glue:GetPartitions", "glue:CreatePartition", "glue:BatchCreatePartition",
        "glue:UpdatePartition",
      ]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
  ]

  msk_cluster_arn = "arn:aws:kafka:${local.region}:${local.account}:cluster/${local.msk_name}/*"
  msk_topic_arn   = "arn:aws:kafka:${local.region}:${local.account}:topic/${local.msk_name}/*/${local.name}.*"
  msk_group_arn   = "arn:aws:kafka:${local.region}:${local.account}:group/${local.msk_name}/*/${local.name}-*"
}

# ------------------------------------------------------------------ task execution (image pull + logs)
resource "aws_iam_role" "execution" {
  name               = "${local.name}-task-execution"
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-image-and-write-logs"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrAuthTokenIsAccountLevel"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "PullOwnEngineImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        Resource = [aws_ecr_repository.engine.arn]
      },
      {
        Sid      = "WriteOwnEngineLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for g in aws_cloudwatch_log_group.engine : "${g.arn}:*"]
      },
    ]
  })
}

# ------------------------------------------------------------------ batch runs
resource "aws_iam_role" "batch_task" {
  name               = local.task_role_names.batch
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "batch_task" {
  name = "medallion-batch-data-access"
  role = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.data_access_statements
  })
}

# ------------------------------------------------------------------ stream consumer
resource "aws_iam_role" "stream_task" {
  count              = var.settings.enable_streaming ? 1 : 0
  name               = local.task_role_names.stream
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "stream_task" {
  count = var.settings.enable_streaming ? 1 : 0
  name  = "medallion-stream-data-access"
  role  = aws_iam_role.stream_task[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.data_access_statements, [
      {
        Sid      = "ConnectToOwnCluster"
        Effect   = "Allow"
        Action   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
        Resource = [local.msk_cluster_arn]
      },
      {
        Sid      = "ReadOwnTopics"
        Effect   = "Allow"
        Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
        Resource = [local.msk_topic_arn]
      },
      {
        Sid      = "OwnConsumerGroups"
        Effect   = "Allow"
        Action   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
        Resource = [local.msk_group_arn]
      },
    ])
  })
}

# ------------------------------------------------------------------ EventBridge -> ECS RunTask
resource "aws_iam_role" "events" {
  name = "${local.name}-events-run-batch"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "events" {
  name = "run-batch-task"
  role = aws_iam_role.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RunOwnBatchTaskOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/${local.name}-batch:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "PassOwnBatchRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.execution.arn, aws_iam_role.batch_task.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ]
  })
}
