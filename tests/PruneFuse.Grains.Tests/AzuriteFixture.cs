namespace PruneFuse.Tests.Shared;

/// <summary>An <see cref="AzuriteProcess"/> as an xunit fixture (collection fixtures need IAsyncLifetime).</summary>
public sealed class AzuriteFixture : AzuriteProcess, IAsyncLifetime;
