# plot.gp: latency against throughput from tds-bench --plot-data.
#   gnuplot -e "datafile='latency.dat'; outfile='latency.png'; term='pngcairo'" plot.gp
# Block 0: one line per step (ops/s, p50, p95, p99, max, receipt p99, and
# the load: c=concurrency or r=offered rate, shown beside the p99 point);
# block 1: one line per second of every window (ops in it, p50, p99).
if (!exists("datafile")) datafile = 'latency.dat'
if (!exists("outfile")) outfile = 'latency.png'
if (!exists("term")) term = 'pngcairo'
if (!exists("what")) what = 'exchanges'
if (term eq 'svg') {
        set terminal svg size 900,600 noenhanced
} else {
        set terminal term size 900,600 noenhanced
}
set output outfile
set title "tds-bench: latency against throughput (".what.")"
set xlabel what."/s completed"
set ylabel "latency from the request (ms)"
set logscale y
set grid
set key top left
plot datafile index 1 using 1:3 with points pt 7 ps 0.4 lc rgb "#c0c0c0" title "p99 of each second", \
     datafile index 0 using 1:2 with linespoints pt 7 lw 2 title "p50 per step", \
     datafile index 0 using 1:3 with linespoints pt 5 lw 2 title "p95 per step", \
     datafile index 0 using 1:4 with linespoints pt 9 lw 2 title "p99 per step", \
     datafile index 0 using 1:5 with linespoints pt 3 lw 1 title "max per step", \
     datafile index 0 using 1:4:7 with labels offset 0,1 notitle
