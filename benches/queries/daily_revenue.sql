-- Revenue per order date (Gold). `silver_lineitem` is the Silver lineitem table.
SELECT o_orderdate AS day,
       sum(l_extendedprice * (1 - l_discount)) AS revenue,
       count(*) AS lines
FROM silver_lineitem
GROUP BY o_orderdate
