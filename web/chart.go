package web

import (
	"fmt"
	"math"
	"sort"
	"time"

	"touchpoint/store"
)

// The chart of interactions per week, stacked by type, drawn on the server
// as SVG. html/template writes every label, so a type named <script> is
// text. It counts at most chartMaxCount interactions (the newest) so that a
// page view stays cheap on a large database.
const (
	chartWeeks    = 26
	chartMaxWeeks = 104
	chartMaxCount = 20_000
	chartMaxTypes = 7
)

// chartColors: one per type, the most frequent first; the last is "other".
var chartColors = []string{"#c2187a", "#4f46e5", "#0e9f6e", "#f59e0b", "#0ea5e9", "#ef4444", "#8b5cf6", "#94a3b8"}

type chartView struct {
	Caption string
	W, H    int
	Empty   bool
	Grid    []chartGrid
	Bars    []chartBar
	XLabels []chartLabel
	Legend  []chartLegend
	Partial bool
	Counted int
}

type chartGrid struct {
	X1, X2, Y, LX float64
	Label         string
}

type chartBar struct {
	X, Y, W, H float64
	Color, Tip string
}

type chartLabel struct {
	X, Y  float64
	Label string
}

type chartLegend struct {
	Name, Color string
	Count       int
}

// weekStart is the Monday 00:00 (in loc) of t's week.
func weekStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	off := (int(d.Weekday()) + 6) % 7 // Monday = 0
	return d.AddDate(0, 0, -off)
}

// chartWindow picks the weeks to draw: those of the filter's date range
// (at most chartMaxWeeks, the latest), or the last chartWeeks weeks.
func (s *Server) chartWindow(f store.Filter) (time.Time, int) {
	end := weekStart(s.now(), s.loc).AddDate(0, 0, 7) // exclusive
	if !f.To.IsZero() {
		end = weekStart(f.To.Add(-time.Nanosecond), s.loc).AddDate(0, 0, 7)
	}
	start := end.AddDate(0, 0, -7*chartWeeks)
	if !f.From.IsZero() {
		start = weekStart(f.From, s.loc)
	}
	weeks := int(math.Round(end.Sub(start).Hours() / (24 * 7)))
	if weeks > chartMaxWeeks {
		weeks = chartMaxWeeks
		start = end.AddDate(0, 0, -7*weeks)
	}
	if weeks < 1 {
		weeks = 1
		start = end.AddDate(0, 0, -7)
	}
	return start, weeks
}

// weeklyChart counts the interactions matching f per week and type.
func (s *Server) weeklyChart(f store.Filter, caption string) (*chartView, error) {
	start, weeks := s.chartWindow(f)
	end := start.AddDate(0, 0, 7*weeks)
	fw := f
	if fw.From.IsZero() || fw.From.Before(start) {
		fw.From = start
	}
	if fw.To.IsZero() || fw.To.After(end) {
		fw.To = end
	}
	counts := make([]map[string]int, weeks)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	totals := map[string]int{}
	counted := 0
	partial := false
	cursor := ""
	for {
		items, next, err := s.store.ListInteractions(fw, store.MaxLimit, cursor)
		if err != nil {
			return nil, err
		}
		for _, ia := range items {
			w := int(weekStart(ia.OccurredAt, s.loc).Sub(start).Hours() / (24 * 7))
			if w < 0 || w >= weeks {
				continue
			}
			counts[w][ia.Type]++
			totals[ia.Type]++
			counted++
		}
		if next == "" {
			break
		}
		if counted >= chartMaxCount {
			partial = true
			break
		}
		cursor = next
	}
	return drawChart(caption, start, weeks, counts, totals, counted, partial), nil
}

func drawChart(caption string, start time.Time, weeks int, counts []map[string]int, totals map[string]int, counted int, partial bool) *chartView {
	cv := &chartView{Caption: caption, W: 760, H: 190, Partial: partial, Counted: counted}
	if counted == 0 {
		cv.Empty = true
		return cv
	}
	// Types by frequency; past chartMaxTypes they share "Other types".
	types := make([]string, 0, len(totals))
	for t := range totals {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if totals[types[i]] != totals[types[j]] {
			return totals[types[i]] > totals[types[j]]
		}
		return types[i] < types[j]
	})
	series := types
	const other = "Other types"
	group := map[string]string{}
	if len(types) > chartMaxTypes {
		series = append(append([]string{}, types[:chartMaxTypes-1]...), other)
		for _, t := range types[chartMaxTypes-1:] {
			group[t] = other
		}
	}
	color := map[string]string{}
	for i, t := range series {
		color[t] = chartColors[min(i, len(chartColors)-1)]
		if t == other {
			color[t] = chartColors[len(chartColors)-1]
		}
	}
	byWeek := make([]map[string]int, weeks)
	maxTotal := 0
	for w := range weeks {
		byWeek[w] = map[string]int{}
		sum := 0
		for t, n := range counts[w] {
			name := t
			if g, ok := group[t]; ok {
				name = g
			}
			byWeek[w][name] += n
			sum += n
		}
		maxTotal = max(maxTotal, sum)
	}
	for _, t := range series {
		n := 0
		for w := range weeks {
			n += byWeek[w][t]
		}
		cv.Legend = append(cv.Legend, chartLegend{Name: t, Color: color[t], Count: n})
	}

	const left, right, top, bottom = 36.0, 8.0, 8.0, 22.0
	plotW := float64(cv.W) - left - right
	plotH := float64(cv.H) - top - bottom
	yMax := niceCeil(maxTotal)
	ticks := 1
	for _, n := range []int{4, 5, 2} {
		if yMax%n == 0 {
			ticks = n
			break
		}
	}
	for i := 0; i <= ticks; i++ {
		v := yMax * i / ticks
		y := top + plotH - float64(v)/float64(yMax)*plotH
		cv.Grid = append(cv.Grid, chartGrid{X1: left, X2: left + plotW, Y: round1(y), LX: left - 6, Label: fmt.Sprint(v)})
	}
	slot := plotW / float64(weeks)
	barW := math.Max(1, slot*0.72)
	every := int(math.Ceil(float64(weeks) / 9))
	for w := range weeks {
		x := left + slot*float64(w) + (slot-barW)/2
		ws := start.AddDate(0, 0, 7*w)
		y := top + plotH
		for _, t := range series {
			n := byWeek[w][t]
			if n == 0 {
				continue
			}
			h := float64(n) / float64(yMax) * plotH
			y -= h
			cv.Bars = append(cv.Bars, chartBar{X: round1(x), Y: round1(y), W: round1(barW), H: round1(h), Color: color[t],
				Tip: fmt.Sprintf("Week of %s: %d × %s", ws.Format("2 Jan 2006"), n, t)})
		}
		if w%every == 0 {
			cv.XLabels = append(cv.XLabels, chartLabel{X: round1(left + slot*float64(w) + slot/2), Y: float64(cv.H) - 6, Label: ws.Format("2 Jan")})
		}
	}
	return cv
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	if n <= 1 {
		return 1
	}
	p := 1
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
