using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Rounds;

namespace PruneFuse.Grains.Tests;

/// <summary>The round loop's transitions, step by step, for both label sources and at the last round.</summary>
public sealed class RoundTableTests
{
    private static CoordinatorState State(string labelSource, int round, int rounds = 2) =>
        new() { Spec = new ExperimentSpec { DatasetId = "d", LabelSource = ContractNames.Parse<LabelSource>(labelSource), Rounds = rounds }, Round = round };

    [Theory]
    [InlineData("dataset", CoordinatorStep.Setup, 1, CoordinatorStep.TrainSelector)]
    [InlineData("external", CoordinatorStep.Setup, 1, CoordinatorStep.AwaitLabels)]
    [InlineData("dataset", CoordinatorStep.TrainSelector, 1, CoordinatorStep.Score)]
    [InlineData("dataset", CoordinatorStep.Score, 2, CoordinatorStep.Commit)]
    // Commit has already moved Round on to the next round.
    [InlineData("dataset", CoordinatorStep.Commit, 2, CoordinatorStep.TrainSelector)]
    [InlineData("dataset", CoordinatorStep.Commit, 3, CoordinatorStep.FinalSelector)]
    [InlineData("external", CoordinatorStep.Commit, 2, CoordinatorStep.AwaitLabels)]
    [InlineData("external", CoordinatorStep.Commit, 3, CoordinatorStep.AwaitLabels)]
    [InlineData("external", CoordinatorStep.AwaitLabels, 2, CoordinatorStep.TrainSelector)]
    [InlineData("external", CoordinatorStep.AwaitLabels, 3, CoordinatorStep.FinalSelector)]
    [InlineData("dataset", CoordinatorStep.FinalSelector, 3, CoordinatorStep.Fuse)]
    [InlineData("dataset", CoordinatorStep.Fuse, 3, CoordinatorStep.Done)]
    public void Each_step_is_followed_by_the_table_s_next_step(string labelSource, CoordinatorStep finished, int round, CoordinatorStep expected)
    {
        Assert.Equal(expected, RoundTable.Next(finished, State(labelSource, round)));
    }

    [Fact]
    public void Done_has_no_next_step_and_waiting_steps_have_no_runner()
    {
        Assert.Throws<InvalidOperationException>(() => RoundTable.Next(CoordinatorStep.Done, State("dataset", 3)));
        Assert.Null(RoundTable.Runner(CoordinatorStep.AwaitLabels));
        Assert.Null(RoundTable.Runner(CoordinatorStep.Done));
        foreach (var step in Enum.GetValues<CoordinatorStep>().Except([CoordinatorStep.AwaitLabels, CoordinatorStep.Done]))
        {
            Assert.NotNull(RoundTable.Runner(step));
        }
    }

    [Fact]
    public void Stored_step_values_never_change()
    {
        // Coordinator state persists these numbers; a renumbering would resume stored experiments at the wrong step.
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], new[]
        {
            CoordinatorStep.Setup, CoordinatorStep.TrainSelector, CoordinatorStep.Score, CoordinatorStep.Fuse,
            CoordinatorStep.AwaitLabels, CoordinatorStep.Done, CoordinatorStep.Commit, CoordinatorStep.FinalSelector,
        }.Select(s => (int)s));
    }

    [Fact]
    public void State_stored_before_the_final_selector_step_resumes_there()
    {
        // Earlier versions ran the final selector as TrainSelector past the last round.
        Assert.Equal(CoordinatorStep.FinalSelector, RoundTable.Resume(CoordinatorStep.TrainSelector, State("dataset", 3)));
        Assert.Equal(CoordinatorStep.TrainSelector, RoundTable.Resume(CoordinatorStep.TrainSelector, State("dataset", 2)));
        Assert.Equal(CoordinatorStep.Score, RoundTable.Resume(CoordinatorStep.Score, State("dataset", 3)));
    }

    [Fact]
    public void Stored_shard_scores_give_back_the_shards_answers_bit_for_bit()
    {
        var features = new[] { new[] { 0.1f, -3.5e-8f, float.MaxValue }, new[] { 1f / 3, 2f, -0f } };
        var results = new[]
        {
            new UnitScoreResult { TopK = [new SampleScore(7, 0.123456789012345, 0, 3), new SampleScore(2, 1e-300, 0)], Features = features, Scored = 90, Seconds = 1.5, Silo = "a" },
            new UnitScoreResult { TopK = [new SampleScore(11, 2.5, 1, 1)], Scored = 40, Seconds = 0.5, Silo = "b" },
        };
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(ShardScores.From(results, 3.25), Storage.ArtifactJson.Options);
        var back = System.Text.Json.JsonSerializer.Deserialize<ShardScores>(json, Storage.ArtifactJson.Options)!;
        Assert.Equal(3.25, back.Seconds);
        var again = back.Results();
        Assert.Equal(2, again.Length);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(results[i].TopK, again[i].TopK);
            Assert.Equal(results[i].Scored, again[i].Scored);
            Assert.Equal(results[i].Silo, again[i].Silo);
            Assert.Equal(results[i].Features.Length, again[i].Features.Length);
            for (var j = 0; j < results[i].Features.Length; j++) Assert.Equal(results[i].Features[j], again[i].Features[j]);
        }
    }
}
