namespace PruneFuse.Grains.Interfaces;

/// <summary>Where the current round's pool scoring is: work units done so far, per silo, with each silo's rate.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ScoringProgress")]
public sealed record ScoringProgress
{
    /// <summary>The round being scored.</summary>
    [Id(0)] public int Round { get; init; }

    /// <summary>Pool shards in the pool.</summary>
    [Id(1)] public int Shards { get; init; }

    /// <summary>Seconds since scoring started.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>One entry per silo that has been given work this round, ordered by silo.</summary>
    [Id(3)] public SiloScoring[] Silos { get; init; } = [];

    /// <summary>Work units the pool is cut into this round.</summary>
    [Id(4)] public int Units { get; init; }

    /// <summary>Work units answered before this attempt at the round (its coordinator restarted) and not scored again.</summary>
    [Id(5)] public int Resumed { get; init; }

    /// <summary>Work units done so far (resumed ones included).</summary>
    public int UnitsDone => Resumed + Silos.Sum(s => s.Units);

    /// <summary>Samples scored so far.</summary>
    public long Scored => Silos.Sum(s => s.Scored);
}

/// <summary>One silo's share of a round's scoring.</summary>
/// <param name="Silo">The silo's address, as <c>cluster status</c> shows it.</param>
/// <param name="Units">Work units it has scored this round.</param>
/// <param name="Scored">Samples it has scored this round.</param>
/// <param name="Seconds">Seconds from its first unit's start to its last unit's end (its busy time this round).</param>
/// <param name="InFlight">Units it is scoring now.</param>
/// <param name="Lost">Units it was given but did not answer because it left the cluster (they were given to others).</param>
[GenerateSerializer, Immutable, Alias("prunefuse.SiloScoring")]
public sealed record SiloScoring(
    [property: Id(0)] string Silo, [property: Id(1)] int Units, [property: Id(2)] long Scored, [property: Id(3)] double Seconds,
    [property: Id(4)] int InFlight = 0, [property: Id(5)] int Lost = 0)
{
    /// <summary>This silo's scoring rate.</summary>
    public double SamplesPerSecond => Seconds > 0 ? Scored / Seconds : 0;
}
