using StoreLink.Server.Accounts;
using StoreLink.Server.Calls;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Host;
using StoreLink.Server.Http;
using StoreLink.Server.Integrations;
using StoreLink.Server.Realtime;
using StoreLink.Server.Web;
using StoreLink.Server.Web.Console;
using StoreLink.Server.Web.Widget;
using StoreLink.Server.Workflows;

// `--demo` seeds the demo outside Development; `admin …` runs an administrative command and exits.
var demo = args.Contains("--demo");
var admin = AdminCommand.IsAdmin(args);
// Settings are read at start only: reloading them on change means watching the content root recursively, and with
// the data directory under it every write of the database woke the watcher.
string[] noReload = ["--hostBuilder:reloadConfigOnChange=false"];
var builder = WebApplication.CreateBuilder([.. admin ? [] : args.Where(a => a != "--demo"), .. noReload]);

builder.AddServerDefaults();
builder.AddHttp();
builder.AddData();
builder.AddAccounts();
builder.AddConversations();
builder.AddRealtime();
builder.AddDesk();
builder.AddWorkflows();
builder.AddIntegrations();
builder.AddCalls();
builder.AddConsole();
builder.Services.AddOpenApi();

var app = builder.Build();
if (admin)
    return await AdminCommand.RunAsync(app, args);
if (!await app.PrepareAsync(demo))
{
    await app.DisposeAsync(); // flushes the console log, which says why the start stopped
    return 1;
}

app.UseHttp();
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();

app.MapHealth();
app.MapOpenApi();
app.MapAccounts();
app.MapConversationsFeature();
app.MapRealtime();
app.MapDesk();
app.MapWorkflows();
app.MapIntegrations();
app.MapCalls();
app.MapConsole();
app.MapWidget();
app.MapSharedAssets();

app.PrintBannerOnStart();
await app.RunAsync();
return 0;

public partial class Program;
