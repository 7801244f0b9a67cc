import streamlit as st

st.title("reward_groups")
st.info("This page is being built.")
