"""Run by the Python of a virtualenv with Feast installed (not fcompile's: Feast is no dependency of ours):
Feast's own client of a remote feature server (`RemoteOnlineStore.get_online_features`, what a Feast
`FeatureStore` with `online_store: {type: remote}` calls) sends entity rows holding request fields to the
server at argv[1], and the `to_dict()` of the OnlineResponse it builds from the answer is printed as JSON.
argv[2]: {"features": [...], "entity_rows": [{...}, ...]}."""

import json
import sys

from feast.infra.online_stores.remote import RemoteOnlineStore, RemoteOnlineStoreConfig
from feast.repo_config import RepoConfig

url, request = sys.argv[1], json.loads(sys.argv[2])
config = RepoConfig(project="fcompile_client", registry="unused.db", provider="local",
                    entity_key_serialization_version=3,
                    online_store=RemoteOnlineStoreConfig(type="remote", path=url))
response = RemoteOnlineStore().get_online_features(config, request["features"], request["entity_rows"],
                                                   None, "fcompile_client")
print(json.dumps(response.to_dict(), default=str))
