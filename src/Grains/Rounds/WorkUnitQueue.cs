using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// A round's pending work units, handed to silos as they ask. A silo first continues the shard it is on, then takes
/// its home shards (the ones it scored last round, or dealt to it evenly), then takes from the shard with the most
/// units left — from its far end, so the shard's home silo keeps reading forwards. Nothing here waits or knows
/// about Orleans: the coordinator asks whenever a silo has a free slot, so a faster silo simply asks more often.
/// </summary>
public sealed class WorkUnitQueue
{
    private readonly SortedDictionary<int, LinkedList<WorkUnit>> _pending = [];
    private readonly Dictionary<int, string> _home = [];
    private readonly Dictionary<string, int> _current = new(StringComparer.Ordinal);

    /// <summary>Queues <paramref name="units"/>; <paramref name="previousHomes"/> maps shards to the silo that scored them last round.</summary>
    public WorkUnitQueue(IEnumerable<WorkUnit> units, IReadOnlyDictionary<int, string>? previousHomes = null)
    {
        foreach (var u in units.OrderBy(u => u.Index))
        {
            if (!_pending.TryGetValue(u.Shard, out var list)) _pending[u.Shard] = list = new LinkedList<WorkUnit>();
            list.AddLast(u);
        }
        foreach (var (shard, silo) in previousHomes ?? new Dictionary<int, string>())
        {
            if (_pending.ContainsKey(shard)) _home[shard] = silo;
        }
    }

    /// <summary>Units not yet handed out (or handed back).</summary>
    public int Pending => _pending.Values.Sum(l => l.Count);

    /// <summary>
    /// Deals the shards without a live home evenly over <paramref name="silos"/> (weighted by their slots), keeping
    /// the homes of shards whose silo is still among them.
    /// </summary>
    public void AssignHomes(IReadOnlyList<(string Silo, int Slots)> silos)
    {
        var live = silos.Select(s => s.Silo).ToHashSet(StringComparer.Ordinal);
        foreach (var shard in _home.Keys.Where(s => !live.Contains(_home[s])).ToList()) _home.Remove(shard);
        if (silos.Count == 0) return;
        var load = silos.ToDictionary(s => s.Silo, s => _pending.Where(p => _home.GetValueOrDefault(p.Key) == s.Silo).Sum(p => p.Value.Count), StringComparer.Ordinal);
        var slots = silos.ToDictionary(s => s.Silo, s => Math.Max(1, s.Slots), StringComparer.Ordinal);
        foreach (var (shard, list) in _pending.Where(p => !_home.ContainsKey(p.Key)).OrderByDescending(p => p.Value.Count).ThenBy(p => p.Key).ToList())
        {
            var to = silos.Select(s => s.Silo).OrderBy(s => (double)load[s] / slots[s]).ThenBy(s => s, StringComparer.Ordinal).First();
            _home[shard] = to;
            load[to] += list.Count;
        }
    }

    /// <summary>The next unit for <paramref name="silo"/>, or null when none is left.</summary>
    public WorkUnit? Take(string silo)
    {
        if (_pending.Count == 0) return null;
        if (_current.TryGetValue(silo, out var shard) && _pending.ContainsKey(shard)) return TakeFront(shard, silo);
        foreach (var (s, _) in _pending)
        {
            if (_home.GetValueOrDefault(s) == silo) return TakeFront(s, silo);
        }
        // Nothing of its own left: help with the shard that has the most units left, from its far end.
        var (steal, list) = _pending.OrderByDescending(p => p.Value.Count).ThenBy(p => p.Key).First();
        var unit = list.Last!.Value;
        list.RemoveLast();
        if (list.Count == 0) _pending.Remove(steal);
        _current.Remove(silo);
        return unit;
    }

    /// <summary>Puts back a unit whose silo was lost before it answered; it goes to the front of its shard.</summary>
    public void Return(WorkUnit unit)
    {
        if (!_pending.TryGetValue(unit.Shard, out var list)) _pending[unit.Shard] = list = new LinkedList<WorkUnit>();
        var node = list.First;
        while (node is not null && node.Value.Index < unit.Index) node = node.Next;
        if (node is null) list.AddLast(unit);
        else list.AddBefore(node, unit);
    }

    private WorkUnit TakeFront(int shard, string silo)
    {
        var list = _pending[shard];
        var unit = list.First!.Value;
        list.RemoveFirst();
        if (list.Count == 0) _pending.Remove(shard);
        _current[silo] = shard;
        return unit;
    }

    /// <summary>
    /// Cuts every shard into units of at most <paramref name="unitSamples"/> samples, of near-equal size; with
    /// <paramref name="wholeShards"/> (distributed k-center, whose local stage is defined per shard) one unit per shard.
    /// The cut depends only on the pool and the unit size, so selections never depend on the silos.
    /// </summary>
    public static WorkUnit[] Plan(IEnumerable<ShardEntry> shards, int unitSamples, bool wholeShards)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(unitSamples, 1);
        var units = new List<WorkUnit>();
        foreach (var sh in shards.OrderBy(s => s.Index))
        {
            var parts = wholeShards || sh.Count == 0 ? 1 : (int)Math.Ceiling(sh.Count / (double)unitSamples);
            for (var p = 0; p < parts; p++)
            {
                var first = (int)((long)sh.Count * p / parts);
                var next = (int)((long)sh.Count * (p + 1) / parts);
                units.Add(new WorkUnit(units.Count, sh.Index, first, next - first));
            }
        }
        return [.. units];
    }
}
