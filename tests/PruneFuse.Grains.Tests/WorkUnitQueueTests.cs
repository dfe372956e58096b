using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Rounds;

namespace PruneFuse.Grains.Tests;

/// <summary>The work-unit plan and the queue that hands units to silos, without a cluster.</summary>
public sealed class WorkUnitQueueTests
{
    private static ShardEntry[] Shards(params int[] counts)
    {
        long first = 0;
        return [.. counts.Select((n, i) => { var e = new ShardEntry(i, $"s{i}", first, n); first += n; return e; })];
    }

    [Fact]
    public void Plan_cuts_each_shard_into_near_equal_units_no_larger_than_the_unit_size_and_covers_every_sample_once()
    {
        var units = WorkUnitQueue.Plan(Shards(1000, 1000, 500, 0), 300, wholeShards: false);
        Assert.Equal(Enumerable.Range(0, units.Length), units.Select(u => u.Index));
        Assert.Equal([4, 4, 2, 1], units.GroupBy(u => u.Shard).Select(g => g.Count()));
        Assert.All(units, u => Assert.InRange(u.Count, 0, 300));
        Assert.Equal([250, 250, 250, 250], units.Where(u => u.Shard == 0).Select(u => u.Count));
        foreach (var (shard, count) in new[] { (0, 1000), (1, 1000), (2, 500), (3, 0) })
        {
            var mine = units.Where(u => u.Shard == shard).ToList();
            Assert.Equal(0, mine[0].First);
            for (var i = 1; i < mine.Count; i++) Assert.Equal(mine[i - 1].First + mine[i - 1].Count, mine[i].First);
            Assert.Equal(count, mine.Sum(u => u.Count));
        }
    }

    [Fact]
    public void Plan_keeps_whole_shards_for_distributed_k_center_and_refuses_a_zero_unit_size()
    {
        var units = WorkUnitQueue.Plan(Shards(1000, 700), 300, wholeShards: true);
        Assert.Equal([new WorkUnit(0, 0, 0, 1000), new WorkUnit(1, 1, 0, 700)], units);
        Assert.Throws<ArgumentOutOfRangeException>(() => WorkUnitQueue.Plan(Shards(10), 0, false));
    }

    /// <summary>
    /// Silos that each take a unit whenever they are free, a unit costing <c>1/speed</c>: the discrete version of the
    /// coordinator's dispatch. Returns units done per silo.
    /// </summary>
    private static Dictionary<string, int> Simulate(WorkUnitQueue queue, (string Silo, double Speed)[] silos, Func<double, (string, double)[]>? joinAt = null)
    {
        queue.AssignHomes([.. silos.Select(s => (s.Silo, 1))]);
        var done = silos.ToDictionary(s => s.Silo, _ => 0);
        var busyUntil = silos.ToDictionary(s => s.Silo, _ => 0.0);
        var speed = silos.ToDictionary(s => s.Silo, s => s.Speed);
        var seen = new HashSet<int>();
        while (true)
        {
            // The silo that is free first asks next (ties: by name, as the coordinator's loops are started).
            var (silo, now) = busyUntil.OrderBy(b => b.Value).ThenBy(b => b.Key, StringComparer.Ordinal).Select(b => (b.Key, b.Value)).First();
            foreach (var (joiner, s) in joinAt?.Invoke(now) ?? [])
            {
                if (busyUntil.ContainsKey(joiner)) continue;
                busyUntil[joiner] = now;
                speed[joiner] = s;
                done[joiner] = 0;
                queue.AssignHomes([.. busyUntil.Keys.Select(k => (k, 1))]);
            }
            if (queue.Take(silo) is not { } unit) break;
            Assert.True(seen.Add(unit.Index), $"unit {unit.Index} handed out twice");
            done[silo]++;
            busyUntil[silo] = now + 1 / speed[silo];
        }
        return done;
    }

    [Fact]
    public void Equal_silos_get_the_same_number_of_units_within_one()
    {
        var units = WorkUnitQueue.Plan(Shards(5000, 5000, 5000, 5000), 1000, false);
        var done = Simulate(new WorkUnitQueue(units), [("a", 1), ("b", 1), ("c", 1)]);
        Assert.Equal(units.Length, done.Values.Sum());
        Assert.True(done.Values.Max() - done.Values.Min() <= 1, string.Join(", ", done));
    }

    [Fact]
    public void A_silo_at_half_speed_gets_half_the_units_within_one()
    {
        var units = WorkUnitQueue.Plan(Shards(6000, 6000, 6000), 600, false);
        var done = Simulate(new WorkUnitQueue(units), [("fast", 1), ("slow", 0.5)]);
        Assert.Equal(units.Length, done.Values.Sum());
        Assert.InRange(done["slow"], units.Length / 3 - 1, units.Length / 3 + 1);
    }

    [Fact]
    public void A_silo_that_joins_midway_takes_units()
    {
        var units = WorkUnitQueue.Plan(Shards(10000, 10000), 1000, false);
        var done = Simulate(new WorkUnitQueue(units), [("a", 1), ("b", 1)], now => now >= 3 ? [("c", 1)] : []);
        Assert.Equal(units.Length, done.Values.Sum());
        Assert.True(done["c"] >= 3, string.Join(", ", done));
    }

    [Fact]
    public void Silos_read_their_home_shards_front_to_back_and_help_others_from_the_far_end()
    {
        var units = WorkUnitQueue.Plan(Shards(4000, 1000), 1000, false);
        var queue = new WorkUnitQueue(units, new Dictionary<int, string> { [0] = "a", [1] = "b" });
        queue.AssignHomes([("a", 1), ("b", 1)]);
        Assert.Equal(new WorkUnit(0, 0, 0, 1000), queue.Take("a"));
        Assert.Equal(new WorkUnit(4, 1, 0, 1000), queue.Take("b"));
        // b's own shard is done: it helps with a's shard from its far end while a goes on from the front.
        Assert.Equal(new WorkUnit(3, 0, 3000, 1000), queue.Take("b"));
        Assert.Equal(new WorkUnit(1, 0, 1000, 1000), queue.Take("a"));
        Assert.Equal(1, queue.Pending);
    }

    [Fact]
    public void A_returned_unit_is_handed_out_again_and_no_unit_is_lost_or_given_twice()
    {
        var units = WorkUnitQueue.Plan(Shards(3000, 3000), 1000, false);
        var queue = new WorkUnitQueue(units);
        queue.AssignHomes([("a", 1), ("b", 1)]);
        var lost = queue.Take("b")!;
        // b leaves: its unit comes back, and a (the only silo left) takes everything, b's shard included.
        queue.Return(lost);
        queue.AssignHomes([("a", 1)]);
        var taken = new List<WorkUnit>();
        while (queue.Take("a") is { } u) taken.Add(u);
        Assert.Equal(units.Select(u => u.Index).Order(), taken.Select(u => u.Index).Order());
        Assert.Equal(0, queue.Pending);
    }
}
