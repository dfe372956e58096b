global using Xunit;
global using PruneFuse.Tests.Shared;
global using PruneFuse.Tests.Shared.Cluster;
