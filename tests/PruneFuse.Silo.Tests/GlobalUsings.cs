global using Xunit;
global using PruneFuse.Tests.Shared;
